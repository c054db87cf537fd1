"""The console and the command line. The only package that may import textual."""
