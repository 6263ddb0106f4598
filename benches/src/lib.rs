//! Holds the workspace benchmarks (see the `[[bench]]` targets).
