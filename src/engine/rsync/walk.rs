//! Walking a source tree for rsync.
