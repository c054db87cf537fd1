"""The run console: answers stream in, the operator labels them with single keys.

`app` (SftscopeApp: the console on a Launch, whatever it plays: a live Generator or a
playback of a saved session), `conversation` (the transcript and its streaming answer),
`widgets` (the item list, the score panel), `screens` (help, comment, report), `keys`
(the footer's bindings from the rubric). Built on tui/base.
"""
