# etc: filled in by its owner
