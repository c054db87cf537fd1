"""Pure statistics: numbers in, numbers out (FastChat's serve/monitor/rating_systems.py and
alpaca_eval's metrics/ are the model).

Nothing here imports the rest of sftscope or writes text: its modules import only numpy,
scipy, scikit-learn, krippendorff and each other (an import-linter contract in
pyproject.toml says so). What the numbers look like on a screen is decided above: the
one rule for writing a figure with its interval is scorers.intervals, the report's cells
are sessions.report.layout, a comparison's lines sessions.compare.summary.

- intervals: the rules every figure follows (MIN_N, the resample count and seed, Wilson's
  interval where a bootstrap has nothing to say);
- agreement: two sources' labels on the same items (Cohen's kappa, Krippendorff's alpha,
  Spearman's rho), with the vectorised bootstrap over contingency tables;
- aggregates: a report's means, rates, correlations and paired differences, and the one
  shared resampling of a session's items;
- pairwise: a comparison's win rates, length-controlled win rate, judge biases, human vs
  judge agreement and Bradley-Terry ratings;
- paired: two runs on the same items (McNemar's exact test, Wilcoxon signed-rank, the
  sign test), from scipy;
- ppi: prediction-powered (PPI++) estimates of a mean from a random sample of your labels
  and a judge's scores on every item, and how many more labels reach a given width;
- libraries: importing scikit-learn at the cost of what is used of it.

Importing the package loads nothing: each module imports numpy, scipy or scikit-learn
itself, most of them inside the functions that use them.
"""
