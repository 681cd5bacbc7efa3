//! A validated SLO.

use std::collections::BTreeMap;

use crate::objective::Objective;
use crate::policy::{AlertPolicy, PolicyError};
use crate::sli::Sli;
use crate::window::Window;

/// Why [`SloBuilder::build`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// SLO names are DNS labels: `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 63 characters.
    #[error(
        "SLO name {0:?} must be a DNS label: lowercase letters, digits and '-', at most 63 characters"
    )]
    Name(String),
    /// Service names follow the same rule as SLO names.
    #[error(
        "service name {0:?} must be a DNS label: lowercase letters, digits and '-', at most 63 characters"
    )]
    Service(String),
    /// A tenant is one NATS subject token: `[A-Za-z0-9_-]+`.
    #[error("tenant {0:?} must be non-empty and use only letters, digits, '_' and '-'")]
    Tenant(String),
    /// An extra label name is not a Prometheus label name, or is reserved.
    #[error(
        "label {0:?} is not a valid Prometheus label name or is reserved (slo, service, tenant, severity, burn_rule)"
    )]
    Label(String),
    /// The objective was not given.
    #[error("objective is required")]
    NoObjective,
    /// The alert policy does not fit the period.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn is_tenant(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A service level objective: an SLI, an objective over a rolling period, an alert policy.
///
/// # Examples
///
/// ```
/// use stella_slo::{Objective, RatioEvents, RatioSli, Sli, Slo};
///
/// let sli = Sli::Ratio(RatioSli::new(
///     "policy_evaluations_total".parse()?,
///     RatioEvents::Bad("policy_evaluation_errors_total".parse()?),
/// ));
/// let slo = Slo::builder("policy-evaluation-availability", "policy-engine", sli)
///     .with_objective(Objective::new(0.999)?)
///     .build()?;
/// assert_eq!(slo.period().to_string(), "30d");
/// assert_eq!(slo.policy().rules().len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    name: String,
    service: String,
    tenant: Option<String>,
    description: Option<String>,
    objective: Objective,
    period: Window,
    sli: Sli,
    policy: AlertPolicy,
    labels: BTreeMap<String, String>,
}

impl Slo {
    /// Starts building an SLO.
    pub fn builder(name: &str, service: &str, sli: Sli) -> SloBuilder {
        SloBuilder {
            name: name.to_owned(),
            service: service.to_owned(),
            sli,
            tenant: None,
            description: None,
            objective: None,
            period: Window::THIRTY_DAYS,
            policy: None,
            min_events: None,
            labels: BTreeMap::new(),
        }
    }

    /// The SLO name (a DNS label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service it belongs to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The tenant, when the SLO is tenant-scoped.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Human description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The objective.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// The rolling period (30 days by default).
    pub fn period(&self) -> Window {
        self.period
    }

    /// The SLI.
    pub fn sli(&self) -> &Sli {
        &self.sli
    }

    /// The alert policy.
    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    /// Extra labels put on generated alerts.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}

/// Builds a [`Slo`]; see [`Slo::builder`].
#[derive(Debug, Clone)]
pub struct SloBuilder {
    name: String,
    service: String,
    sli: Sli,
    tenant: Option<String>,
    description: Option<String>,
    objective: Option<Objective>,
    period: Window,
    policy: Option<AlertPolicy>,
    min_events: Option<u64>,
    labels: BTreeMap<String, String>,
}

impl SloBuilder {
    /// The objective (required).
    #[must_use]
    pub fn with_objective(mut self, o: Objective) -> SloBuilder {
        self.objective = Some(o);
        self
    }

    /// The rolling period (default 30 days).
    #[must_use]
    pub fn with_period(mut self, period: Window) -> SloBuilder {
        self.period = period;
        self
    }

    /// The tenant the SLO belongs to.
    #[must_use]
    pub fn with_tenant(mut self, tenant: &str) -> SloBuilder {
        self.tenant = Some(tenant.to_owned());
        self
    }

    /// A description.
    #[must_use]
    pub fn with_description(mut self, d: &str) -> SloBuilder {
        self.description = Some(d.to_owned());
        self
    }

    /// An explicit alert policy (default: [`AlertPolicy::scaled_for`] the period).
    #[must_use]
    pub fn with_policy(mut self, p: AlertPolicy) -> SloBuilder {
        self.policy = Some(p);
        self
    }

    /// The low-traffic guard (minimum events per window to alert).
    #[must_use]
    pub fn with_min_events(mut self, n: u64) -> SloBuilder {
        self.min_events = Some(n);
        self
    }

    /// An extra label for generated alerts.
    #[must_use]
    pub fn with_label(mut self, name: &str, value: &str) -> SloBuilder {
        self.labels.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for a bad name, service, tenant or label, a missing objective, or an
    /// alert window longer than the period (the default policy needs a period of 3 days or more).
    pub fn build(self) -> Result<Slo, BuildError> {
        if !is_dns_label(&self.name) {
            return Err(BuildError::Name(self.name));
        }
        if !is_dns_label(&self.service) {
            return Err(BuildError::Service(self.service));
        }
        if let Some(t) = &self.tenant
            && !is_tenant(t)
        {
            return Err(BuildError::Tenant(t.clone()));
        }
        for l in self.labels.keys() {
            let reserved = [
                "slo",
                "service",
                "tenant",
                "severity",
                "burn_rule",
                "le",
                "alertname",
            ];
            let valid = l
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !l.starts_with("__");
            if !valid || reserved.contains(&l.as_str()) {
                return Err(BuildError::Label(l.clone()));
            }
        }
        let objective = self.objective.ok_or(BuildError::NoObjective)?;
        let mut policy = match self.policy {
            Some(p) => p.checked_against(self.period)?,
            None => AlertPolicy::scaled_for(self.period)?,
        };
        if let Some(n) = self.min_events {
            policy = policy.with_min_events(n);
        }
        Ok(Slo {
            name: self.name,
            service: self.service,
            tenant: self.tenant,
            description: self.description,
            objective,
            period: self.period,
            sli: self.sli,
            policy,
            labels: self.labels,
        })
    }
}
