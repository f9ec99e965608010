//! Roles and the actions each may take; the actor every change is attributed to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The five roles of ARCHITECTURE.md. Customer roles are bound to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CustomerUser,
    CustomerAdmin,
    VendorPm,
    VendorEngineer,
    Admin,
}

/// Actions checked against roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read releases, environments and requests (own tenant for customer roles).
    Read,
    /// File, cancel requests, propose slots, accept hotfixes, sign validation sign-off.
    FileRequest,
    /// Triage requests, schedule upgrades, assign engineers, publish releases.
    Triage,
    PublishRelease,
    /// Run provisioning and upgrade jobs, record availability.
    RunJobs,
    /// Manage environments' records (create PROD pairs, register databases).
    ManageEnvironments,
    /// Users, tenants, settings, secrets.
    Administer,
}

pub const ALL_ROLES: [Role; 5] = [
    Role::CustomerUser,
    Role::CustomerAdmin,
    Role::VendorPm,
    Role::VendorEngineer,
    Role::Admin,
];

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::CustomerUser => "customer_user",
            Role::CustomerAdmin => "customer_admin",
            Role::VendorPm => "vendor_pm",
            Role::VendorEngineer => "vendor_engineer",
            Role::Admin => "admin",
        }
    }

    /// Customer roles see one tenant; vendor roles see all.
    pub fn is_customer(&self) -> bool {
        matches!(self, Role::CustomerUser | Role::CustomerAdmin)
    }

    pub fn may(&self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::CustomerUser => matches!(p, Read),
            Role::CustomerAdmin => matches!(p, Read | FileRequest),
            Role::VendorPm => matches!(p, Read | Triage | PublishRelease | ManageEnvironments),
            Role::VendorEngineer => matches!(p, Read | RunJobs | ManageEnvironments),
            Role::Admin => true,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_ROLES
            .iter()
            .copied()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                CoreError::parse(
                    "role",
                    s,
                    "expected one of customer_user, customer_admin, vendor_pm, vendor_engineer, admin",
                )
            })
    }
}

/// Who is acting: every API call and audit event is attributed to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    /// The tenant of a customer-side actor; `None` for vendor roles.
    pub customer_id: Option<String>,
}

impl Actor {
    /// The built-in actor for changes made by valet itself (start-up, workers).
    pub fn system() -> Actor {
        Actor {
            user_id: "system".into(),
            username: "system".into(),
            role: Role::Admin,
            customer_id: None,
        }
    }

    /// Fails with [`CoreError::Forbidden`] unless the actor's role grants `p`.
    pub fn require(&self, p: Permission, action: &str) -> Result<(), CoreError> {
        if self.role.may(p) {
            Ok(())
        } else {
            Err(CoreError::Forbidden {
                role: self.role.to_string(),
                action: action.to_string(),
            })
        }
    }

    /// Whether the actor may see objects of `customer_id`.
    pub fn sees_tenant(&self, customer_id: &str) -> bool {
        match (&self.customer_id, self.role.is_customer()) {
            (_, false) => true,
            (Some(own), true) => own == customer_id,
            (None, true) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_roundtrip_through_their_names() {
        for r in ALL_ROLES {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn customer_user_only_reads() {
        assert!(Role::CustomerUser.may(Permission::Read));
        assert!(!Role::CustomerUser.may(Permission::FileRequest));
        assert!(!Role::CustomerAdmin.may(Permission::PublishRelease));
        assert!(Role::VendorPm.may(Permission::PublishRelease));
        assert!(!Role::VendorEngineer.may(Permission::PublishRelease));
        assert!(Role::Admin.may(Permission::Administer));
    }

    #[test]
    fn customer_actor_sees_only_own_tenant() {
        let a = Actor {
            user_id: "u".into(),
            username: "u".into(),
            role: Role::CustomerUser,
            customer_id: Some("c1".into()),
        };
        assert!(a.sees_tenant("c1"));
        assert!(!a.sees_tenant("c2"));
        let pm = Actor {
            role: Role::VendorPm,
            customer_id: None,
            ..a.clone()
        };
        assert!(pm.sees_tenant("c2"));
        let orphan = Actor {
            customer_id: None,
            ..a
        };
        assert!(
            !orphan.sees_tenant("c1"),
            "a customer role without tenant sees nothing"
        );
    }
}
