//! State behind rolling limits, trust and approvals (in progress).
