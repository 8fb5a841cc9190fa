"""The trained classifiers: hashed TF-IDF features, linear models stored as plain arrays,
the toxic-span lexicon, training from labelled CSV files and the per-process registry."""
