//! Service-desk requests (VAL, PROD upgrade, hotfix acceptance, VAL extension) and their state
//! machine `draft → submitted → triaged → approved → scheduled → in_progress → done`, with the
//! exits `rejected`, `cancelled` and `on_hold` (which resumes where it was held).

use serde::{Deserialize, Serialize};

use crate::environment::string_enum;
use crate::role::{Actor, Permission};
use crate::CoreError;

/// What a request asks for; the prefix of its key (`VAL-12`, `UPG-7`, `HFX-3`, `EXT-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Val,
    Upgrade,
    Hotfix,
    ValExtension,
}
string_enum!(RequestKind, "request kind", {
    Val => "val",
    Upgrade => "upgrade",
    Hotfix => "hotfix",
    ValExtension => "val_extension",
});

impl RequestKind {
    pub fn key_prefix(&self) -> &'static str {
        match self {
            RequestKind::Val => "VAL",
            RequestKind::Upgrade => "UPG",
            RequestKind::Hotfix => "HFX",
            RequestKind::ValExtension => "EXT",
        }
    }

    /// Whether the request upgrades a PROD pair at a booked slot (a PROD upgrade, or an
    /// accepted hotfix): both are scheduled and run the same way.
    pub fn is_prod_upgrade(&self) -> bool {
        matches!(self, RequestKind::Upgrade | RequestKind::Hotfix)
    }

    /// The human key of the `n`-th request of this kind, e.g. `VAL-12`.
    pub fn key(&self, n: u64) -> String {
        format!("{}-{n}", self.key_prefix())
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    Draft,
    Submitted,
    Triaged,
    Approved,
    Scheduled,
    InProgress,
    Done,
    Rejected,
    Cancelled,
    OnHold,
    /// The request's run failed; a retry (after a fix) schedules it again.
    Failed,
}
string_enum!(RequestState, "request state", {
    Draft => "draft",
    Submitted => "submitted",
    Triaged => "triaged",
    Approved => "approved",
    Scheduled => "scheduled",
    InProgress => "in_progress",
    Done => "done",
    Rejected => "rejected",
    Cancelled => "cancelled",
    OnHold => "on_hold",
    Failed => "failed",
});

impl RequestState {
    /// States reachable in one step. From `on_hold` the list is every state a request can be
    /// held in; [`RequestFlow::transition`] narrows it to the one it was actually held in.
    pub fn next(&self) -> &'static [RequestState] {
        use RequestState::*;
        match self {
            Draft => &[Submitted, Cancelled],
            Submitted => &[Triaged, Rejected, Cancelled, OnHold],
            Triaged => &[Approved, Rejected, Cancelled, OnHold],
            Approved => &[Scheduled, Cancelled, OnHold],
            Scheduled => &[InProgress, Approved, Cancelled, OnHold],
            InProgress => &[Done, OnHold, Failed],
            Failed => &[Scheduled, Cancelled],
            OnHold => &[
                Submitted, Triaged, Approved, Scheduled, InProgress, Cancelled,
            ],
            Done | Rejected | Cancelled => &[],
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.next().is_empty()
    }

    /// Permissions any one of which allows the step `self → to`.
    pub fn permissions_for(&self, to: RequestState) -> &'static [Permission] {
        use Permission::*;
        use RequestState::*;
        match (self, to) {
            (Draft, Submitted) => &[FileRequest, Triage],
            (_, Cancelled) => &[FileRequest, Triage],
            (Scheduled, InProgress)
            | (InProgress, Done)
            | (InProgress, OnHold)
            | (InProgress, Failed)
            | (Failed, Scheduled) => &[RunJobs, Triage],
            _ => &[Triage],
        }
    }
}

/// The state of one request plus what `on_hold` needs to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFlow {
    pub state: RequestState,
    /// The state the request was in when it was put on hold.
    pub held_from: Option<RequestState>,
}

impl RequestFlow {
    pub fn new() -> Self {
        RequestFlow {
            state: RequestState::Draft,
            held_from: None,
        }
    }

    /// One step of the state machine by `actor`: checks legality, then permission.
    pub fn transition(self, to: RequestState, actor: &Actor) -> Result<RequestFlow, CoreError> {
        let allowed: Vec<RequestState> = match (self.state, self.held_from) {
            (RequestState::OnHold, Some(from)) => vec![from, RequestState::Cancelled],
            (s, _) => s.next().to_vec(),
        };
        crate::machine::step("request", self.state, to, &allowed)?;
        let perms = self.state.permissions_for(to);
        if !perms.iter().any(|p| actor.role.may(*p)) {
            return Err(CoreError::Forbidden {
                role: actor.role.to_string(),
                action: format!("move a request from `{}` to `{to}`", self.state),
            });
        }
        let held_from = match to {
            RequestState::OnHold => Some(self.state),
            _ => None,
        };
        Ok(RequestFlow {
            state: to,
            held_from,
        })
    }
}

impl Default for RequestFlow {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;
    use proptest::prelude::*;

    fn actor(role: Role) -> Actor {
        Actor {
            user_id: "u".into(),
            username: "u".into(),
            role,
            customer_id: role.is_customer().then(|| "c".to_string()),
        }
    }

    #[test]
    fn happy_path_of_a_val_request() {
        let cust = actor(Role::CustomerAdmin);
        let pm = actor(Role::VendorPm);
        let eng = actor(Role::VendorEngineer);
        let f = RequestFlow::new()
            .transition(RequestState::Submitted, &cust)
            .and_then(|f| f.transition(RequestState::Triaged, &pm))
            .and_then(|f| f.transition(RequestState::Approved, &pm))
            .and_then(|f| f.transition(RequestState::Scheduled, &pm))
            .and_then(|f| f.transition(RequestState::InProgress, &eng))
            .and_then(|f| f.transition(RequestState::Done, &eng))
            .unwrap();
        assert_eq!(f.state, RequestState::Done);
        assert!(f.state.is_terminal());
    }

    #[test]
    fn on_hold_resumes_only_where_it_was_held() {
        let pm = actor(Role::VendorPm);
        let f = RequestFlow {
            state: RequestState::Approved,
            held_from: None,
        }
        .transition(RequestState::OnHold, &pm)
        .unwrap();
        assert_eq!(f.held_from, Some(RequestState::Approved));
        let e = f.transition(RequestState::Scheduled, &pm).unwrap_err();
        assert!(
            e.to_string()
                .contains("allowed from `on_hold`: `approved`, `cancelled`"),
            "{e}"
        );
        let back = f.transition(RequestState::Approved, &pm).unwrap();
        assert_eq!(back.held_from, None);
    }

    #[test]
    fn customer_cannot_approve_own_request() {
        let f = RequestFlow {
            state: RequestState::Triaged,
            held_from: None,
        };
        let e = f
            .transition(RequestState::Approved, &actor(Role::CustomerAdmin))
            .unwrap_err();
        assert!(matches!(e, CoreError::Forbidden { .. }), "{e}");
        let e = RequestFlow::new()
            .transition(RequestState::Submitted, &actor(Role::CustomerUser))
            .unwrap_err();
        assert!(matches!(e, CoreError::Forbidden { .. }));
    }

    #[test]
    fn done_request_cannot_be_cancelled() {
        let f = RequestFlow {
            state: RequestState::Done,
            held_from: None,
        };
        let e = f
            .transition(RequestState::Cancelled, &actor(Role::Admin))
            .unwrap_err();
        assert!(e.to_string().contains("nothing (final state)"), "{e}");
    }

    #[test]
    fn keys_carry_the_kind_prefix() {
        assert_eq!(RequestKind::Val.key(12), "VAL-12");
        assert_eq!(RequestKind::Upgrade.key(7), "UPG-7");
        assert_eq!(RequestKind::Hotfix.key(3), "HFX-3");
    }

    fn arb_state() -> impl Strategy<Value = RequestState> {
        proptest::sample::select(RequestState::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn admin_may_take_exactly_the_listed_steps(from in arb_state(), to in arb_state()) {
            let f = RequestFlow { state: from, held_from: None };
            let ok = f.transition(to, &actor(Role::Admin)).is_ok();
            prop_assert_eq!(ok, from.next().contains(&to));
        }

        #[test]
        fn customer_user_can_never_move_a_request(from in arb_state(), to in arb_state()) {
            let f = RequestFlow { state: from, held_from: None };
            prop_assert!(f.transition(to, &actor(Role::CustomerUser)).is_err());
        }

        #[test]
        fn random_walks_keep_held_from_consistent(picks in proptest::collection::vec(0usize..8, 0..40)) {
            let admin = actor(Role::Admin);
            let mut f = RequestFlow::new();
            for p in picks {
                let options: Vec<RequestState> = match (f.state, f.held_from) {
                    (RequestState::OnHold, Some(h)) => vec![h, RequestState::Cancelled],
                    (s, _) => s.next().to_vec(),
                };
                if options.is_empty() { break; }
                f = f.transition(options[p % options.len()], &admin).unwrap();
                prop_assert_eq!(f.state == RequestState::OnHold, f.held_from.is_some());
                prop_assert_ne!(f.held_from, Some(RequestState::OnHold));
            }
        }
    }
}
