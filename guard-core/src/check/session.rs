//! Who the agent is talking to, as the application authenticated them.

/// The authenticated (or guest) session a tool call is made in.
///
/// Every customer reference in a call must match `customer_id` exactly; emails in a call must be
/// among `identifiers` (the customer's verified emails, phones).
///
/// ```
/// use guard_core::Session;
/// let s = Session::authenticated("C-1001", "sess-9").identifier("ada@example.com");
/// assert!(s.is_authenticated());
/// assert!(s.has_identifier("ada@example.com"));
/// assert!(!Session::guest("sess-10").is_authenticated());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    customer_id: String,
    session_id: String,
    identifiers: Vec<String>,
    authenticated: bool,
}

impl Session {
    /// A session whose customer the application has authenticated.
    pub fn authenticated(customer_id: impl Into<String>, session_id: impl Into<String>) -> Self {
        Self {
            customer_id: customer_id.into(),
            session_id: session_id.into(),
            identifiers: Vec::new(),
            authenticated: true,
        }
    }

    /// An unauthenticated visitor: may call no tool that names a customer.
    pub fn guest(session_id: impl Into<String>) -> Self {
        Self {
            customer_id: String::new(),
            session_id: session_id.into(),
            identifiers: Vec::new(),
            authenticated: false,
        }
    }

    /// Adds a verified identifier (an email or phone of this customer).
    pub fn identifier(mut self, id: impl Into<String>) -> Self {
        self.identifiers.push(id.into());
        self
    }

    /// The customer id (empty for a guest).
    pub fn customer_id(&self) -> &str {
        &self.customer_id
    }
    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
    /// Verified identifiers.
    pub fn identifiers(&self) -> &[String] {
        &self.identifiers
    }
    /// Whether the customer is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }
    /// Whether `id` is exactly the customer id or one of the verified identifiers.
    pub fn has_identifier(&self, id: &str) -> bool {
        (self.authenticated && id == self.customer_id) || self.identifiers.iter().any(|i| i == id)
    }
}
