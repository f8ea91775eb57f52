"""Files sorted by class (image and audio folders): layouts, labels, groups and splits."""
