//! execnet spec strings. PLACEHOLDER: being written.
