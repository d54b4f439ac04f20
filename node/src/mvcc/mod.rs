//! MVCC store (being written).
