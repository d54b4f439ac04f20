//! Checker placeholder: filled in by the checker work (issue 6).
