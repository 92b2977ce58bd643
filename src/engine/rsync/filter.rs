//! Which paths of a source tree rsync leaves out.
