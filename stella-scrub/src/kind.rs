//! The stable kind names that appear in `[REDACTED:<kind>]` and in redaction counts.

use std::fmt;

/// What a redaction was: the stable name printed in `[REDACTED:<kind>]`.
///
/// Kind names are part of the output format and never change once released; new kinds are added
/// as new variants (the enum is `#[non_exhaustive]`).
///
/// # Examples
///
/// ```
/// use stella_scrub::Kind;
///
/// assert_eq!(Kind::Jwt.as_str(), "jwt");
/// assert!(Kind::Password.is_credential());
/// assert!(!Kind::Email.is_credential());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    // === credentials: never relaxed ===
    /// A private key block (PEM of any flavour, OpenSSH, PuTTY, SSH2).
    PrivateKey,
    /// An AWS access key id (`AKIA…`, `ASIA…`, …).
    AwsAccessKeyId,
    /// An AWS secret access key.
    AwsSecretKey,
    /// An AWS session (security) token.
    AwsSessionToken,
    /// A GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken,
    /// A GitLab token (`glpat-` and the other `gl…-` prefixes).
    GitlabToken,
    /// A Slack token (`xox…-`, `xapp-`).
    SlackToken,
    /// A Slack, Discord or Teams incoming-webhook URL.
    WebhookUrl,
    /// A Stripe secret, restricted or webhook-signing key.
    StripeKey,
    /// A Google API key (`AIza…`).
    GoogleApiKey,
    /// A Google OAuth access or refresh token or client secret.
    GoogleOauth,
    /// A JSON Web Token (JWS or JWE compact form).
    Jwt,
    /// The value of an `Authorization` header or a standalone `Bearer`/`Basic` credential.
    Authorization,
    /// The password part of a URL's userinfo (`scheme://user:password@host`).
    UrlPassword,
    /// The value of a password field (any language).
    Password,
    /// The value of a secret field (`secret`, `client_secret`, …).
    Secret,
    /// The value of a token field (`token`, `access_token`, `refresh_token`, …).
    Token,
    /// The value of an API-key field (`api_key`, `x-api-key`, `private_key`, …).
    ApiKey,
    /// The value of a session or CSRF field, or a session id.
    Session,
    /// The value of a cookie or set-cookie field.
    Cookie,
    /// The value of a credentials field.
    Credentials,
    /// The value of a one-time password, PIN or card-verification field.
    Otp,
    /// The value of a signature field (`signature`, `sig`).
    Signature,
    /// An npm access token (`npm_…`).
    NpmToken,
    /// A SendGrid API key (`SG.…`).
    SendgridKey,
    /// An OpenAI API key (`sk-…`, `sk-proj-…`).
    OpenaiKey,
    /// An Anthropic API key (`sk-ant-…`).
    AnthropicKey,
    /// A HashiCorp Vault token (`hvs.`, `hvb.`, `hvr.`).
    VaultToken,
    /// A PyPI upload token (`pypi-…`).
    PypiToken,
    /// A Twilio API key (`SK` + 32 hex).
    TwilioKey,
    /// A Hugging Face token (`hf_…`, `api_org_…`).
    HuggingfaceToken,
    /// A Shopify token (`shpat_`, `shpca_`, `shppa_`, `shpss_`).
    ShopifyToken,
    /// A DigitalOcean token (`dop_v1_`, `doo_v1_`, `dor_v1_`).
    DigitaloceanToken,
    /// A Databricks token (`dapi…`).
    DatabricksToken,
    /// A Doppler token (`dp.pt.`, `dp.st.`, …).
    DopplerToken,
    /// A Linear API key (`lin_api_…`).
    LinearKey,
    /// A Mailgun API key (`key-…`).
    MailgunKey,
    /// A Postman API key (`PMAK-…`).
    PostmanKey,
    /// An Azure storage or service-bus account key in a connection string.
    AzureKey,
    /// Another well-known vendor token with a distinctive prefix (Grafana, Sentry, Docker Hub,
    /// 1Password, Tailscale, Atlassian, New Relic, Notion, PlanetScale, Square, age, …).
    VendorToken,
    // === sensitive PII: never relaxed ===
    /// A payment card number (Luhn, issuer prefix and length validated).
    Card,
    /// A US social security number (valid ranges, consistent separators).
    Ssn,
    // === PII that a deep-debug grant may relax ===
    /// An email address (also `%40`-encoded and internationalised).
    Email,
    /// A phone number (E.164, spaced international, North American).
    Phone,
    /// A public IPv4 or IPv6 address (private ranges by policy).
    Ip,
    /// An absolute file-system path outside the configured repository root.
    Path,
}

impl Kind {
    /// Every built-in kind, in declaration order.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::Kind;
    /// assert!(Kind::ALL.contains(&Kind::Jwt));
    /// assert!(Kind::ALL.iter().all(|k| Kind::from_name(k.as_str()) == Some(*k)));
    /// ```
    pub const ALL: &'static [Kind] = &[
        Kind::PrivateKey,
        Kind::AwsAccessKeyId,
        Kind::AwsSecretKey,
        Kind::AwsSessionToken,
        Kind::GithubToken,
        Kind::GitlabToken,
        Kind::SlackToken,
        Kind::WebhookUrl,
        Kind::StripeKey,
        Kind::GoogleApiKey,
        Kind::GoogleOauth,
        Kind::Jwt,
        Kind::Authorization,
        Kind::UrlPassword,
        Kind::Password,
        Kind::Secret,
        Kind::Token,
        Kind::ApiKey,
        Kind::Session,
        Kind::Cookie,
        Kind::Credentials,
        Kind::Otp,
        Kind::Signature,
        Kind::NpmToken,
        Kind::SendgridKey,
        Kind::OpenaiKey,
        Kind::AnthropicKey,
        Kind::VaultToken,
        Kind::PypiToken,
        Kind::TwilioKey,
        Kind::HuggingfaceToken,
        Kind::ShopifyToken,
        Kind::DigitaloceanToken,
        Kind::DatabricksToken,
        Kind::DopplerToken,
        Kind::LinearKey,
        Kind::MailgunKey,
        Kind::PostmanKey,
        Kind::AzureKey,
        Kind::VendorToken,
        Kind::Card,
        Kind::Ssn,
        Kind::Email,
        Kind::Phone,
        Kind::Ip,
        Kind::Path,
    ];

    /// The stable name printed in `[REDACTED:<name>]`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(stella_scrub::Kind::AwsAccessKeyId.as_str(), "aws_access_key_id");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::PrivateKey => "private_key",
            Kind::AwsAccessKeyId => "aws_access_key_id",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::AwsSessionToken => "aws_session_token",
            Kind::GithubToken => "github_token",
            Kind::GitlabToken => "gitlab_token",
            Kind::SlackToken => "slack_token",
            Kind::WebhookUrl => "webhook_url",
            Kind::StripeKey => "stripe_key",
            Kind::GoogleApiKey => "google_api_key",
            Kind::GoogleOauth => "google_oauth",
            Kind::Jwt => "jwt",
            Kind::Authorization => "authorization",
            Kind::UrlPassword => "url_password",
            Kind::Password => "password",
            Kind::Secret => "secret",
            Kind::Token => "token",
            Kind::ApiKey => "api_key",
            Kind::Session => "session",
            Kind::Cookie => "cookie",
            Kind::Credentials => "credentials",
            Kind::Otp => "otp",
            Kind::Signature => "signature",
            Kind::NpmToken => "npm_token",
            Kind::SendgridKey => "sendgrid_key",
            Kind::OpenaiKey => "openai_key",
            Kind::AnthropicKey => "anthropic_key",
            Kind::VaultToken => "vault_token",
            Kind::PypiToken => "pypi_token",
            Kind::TwilioKey => "twilio_key",
            Kind::HuggingfaceToken => "huggingface_token",
            Kind::ShopifyToken => "shopify_token",
            Kind::DigitaloceanToken => "digitalocean_token",
            Kind::DatabricksToken => "databricks_token",
            Kind::DopplerToken => "doppler_token",
            Kind::LinearKey => "linear_key",
            Kind::MailgunKey => "mailgun_key",
            Kind::PostmanKey => "postman_key",
            Kind::AzureKey => "azure_key",
            Kind::VendorToken => "vendor_token",
            Kind::Card => "card",
            Kind::Ssn => "ssn",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Ip => "ip",
            Kind::Path => "path",
        }
    }

    /// Looks a kind up by its stable name.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::Kind;
    /// assert_eq!(Kind::from_name("email"), Some(Kind::Email));
    /// assert_eq!(Kind::from_name("nope"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// True for credentials and sensitive PII (cards, SSNs): kinds no grant can relax.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(stella_scrub::Kind::Card.is_credential() == false);
    /// assert!(stella_scrub::Kind::Jwt.is_credential());
    /// ```
    pub const fn is_credential(self) -> bool {
        !matches!(
            self,
            Kind::Card | Kind::Ssn | Kind::Email | Kind::Phone | Kind::Ip | Kind::Path
        )
    }

    /// The relaxable PII kind this is, if any (email, phone, ip, path).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{Kind, PiiKind};
    /// assert_eq!(Kind::Ip.pii(), Some(PiiKind::Ip));
    /// assert_eq!(Kind::Card.pii(), None);
    /// ```
    pub const fn pii(self) -> Option<PiiKind> {
        match self {
            Kind::Email => Some(PiiKind::Email),
            Kind::Phone => Some(PiiKind::Phone),
            Kind::Ip => Some(PiiKind::Ip),
            Kind::Path => Some(PiiKind::Path),
            _ => None,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Merge priority: the higher one names a merged redaction.
    pub(crate) const fn priority(self) -> u8 {
        match self {
            Kind::Email | Kind::Phone | Kind::Ip | Kind::Path => 1,
            Kind::Card | Kind::Ssn => 2,
            Kind::Password
            | Kind::Secret
            | Kind::Token
            | Kind::ApiKey
            | Kind::Session
            | Kind::Cookie
            | Kind::Credentials
            | Kind::Otp
            | Kind::Signature => 3,
            Kind::Authorization | Kind::UrlPassword => 4,
            _ => 5,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The PII kinds a per-tenant deep-debug grant may relax. Credentials, cards and SSNs are never
/// relaxable, so they have no variant here.
///
/// # Examples
///
/// ```
/// use stella_scrub::PiiKind;
/// assert_eq!(PiiKind::Email.as_str(), "email");
/// assert_eq!(PiiKind::from_name("path"), Some(PiiKind::Path));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PiiKind {
    /// Email addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// Public IP addresses.
    Ip,
    /// File-system paths outside the repository root.
    Path,
}

impl PiiKind {
    /// Every relaxable kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::PiiKind;
    /// let names: Vec<_> = PiiKind::ALL.iter().map(|k| k.as_str()).collect();
    /// assert_eq!(names, ["email", "phone", "ip", "path"]);
    /// ```
    pub const ALL: &'static [PiiKind] =
        &[PiiKind::Email, PiiKind::Phone, PiiKind::Ip, PiiKind::Path];

    /// The stable name, equal to the matching [`Kind`]'s name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(stella_scrub::PiiKind::Ip.as_str(), "ip");
    /// ```
    pub const fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    /// The matching [`Kind`].
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{Kind, PiiKind};
    /// assert_eq!(PiiKind::Phone.kind(), Kind::Phone);
    /// ```
    pub const fn kind(self) -> Kind {
        match self {
            PiiKind::Email => Kind::Email,
            PiiKind::Phone => Kind::Phone,
            PiiKind::Ip => Kind::Ip,
            PiiKind::Path => Kind::Path,
        }
    }

    /// Looks a relaxable kind up by name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(stella_scrub::PiiKind::from_name("password"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<PiiKind> {
        PiiKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    pub(crate) const fn bit(self) -> u8 {
        match self {
            PiiKind::Email => 1,
            PiiKind::Phone => 2,
            PiiKind::Ip => 4,
            PiiKind::Path => 8,
        }
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small set of relaxed PII kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PiiSet(pub(crate) u8);

impl PiiSet {
    pub(crate) const EMPTY: PiiSet = PiiSet(0);

    pub(crate) fn insert(&mut self, k: PiiKind) {
        self.0 |= k.bit();
    }

    /// This set and `k`.
    pub(crate) fn with(mut self, k: PiiKind) -> PiiSet {
        self.insert(k);
        self
    }

    pub(crate) fn relaxes(self, kind: Kind) -> bool {
        match kind.pii() {
            Some(p) => self.0 & p.bit() != 0,
            None => false,
        }
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "ALL is in declaration order");
            assert!(seen.insert(k.as_str()));
            assert_eq!(Kind::from_name(k.as_str()), Some(*k));
        }
    }

    #[test]
    fn only_four_kinds_are_relaxable() {
        let relaxable: Vec<_> = Kind::ALL.iter().filter(|k| k.pii().is_some()).collect();
        assert_eq!(relaxable.len(), 4);
        for k in Kind::ALL {
            assert!(!(k.is_credential() && k.pii().is_some()));
        }
    }
}
