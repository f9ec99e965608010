//! Environments: PROD or VAL, Main or Test, always provisioned as a pair, with a life cycle
//! `requested → provisioning → active ⇄ maintenance → expiring → destroyed`, any live state
//! able to end in `failed`.

use crate::CoreError;

macro_rules! string_enum {
    ($t:ident, $what:literal, { $($v:ident => $s:literal),+ $(,)? }) => {
        $crate::environment::string_enum!($t as stringify!($t), $what, { $($v => $s),+ });
    };
    ($t:ident as $name:expr, $what:literal, { $($v:ident => $s:literal),+ $(,)? }) => {
        impl ::utoipa::PartialSchema for $t {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("A ", $what, ".")))
                    .enum_values(Some([$($s),+]))
                    .into()
            }
        }
        impl ::utoipa::ToSchema for $t {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($name)
            }
        }
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $t {
            type Err = $crate::CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                $t::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| {
                        let names: Vec<&str> = $t::ALL.iter().map(|v| v.as_str()).collect();
                        $crate::CoreError::parse($what, s, format!("expected one of {}", names.join(", ")))
                    })
            }
        }
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// Production or temporary validation environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Prod,
    Val,
}
string_enum!(Tier, "tier", { Prod => "PROD", Val => "VAL" });

/// Each pair has a Main and a Test environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvRole {
    Main,
    Test,
}
string_enum!(EnvRole, "environment role", { Main => "MAIN", Test => "TEST" });

/// Life cycle of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvState {
    Requested,
    Provisioning,
    Active,
    Maintenance,
    Expiring,
    Destroyed,
    Failed,
}
string_enum!(EnvState, "environment state", {
    Requested => "requested",
    Provisioning => "provisioning",
    Active => "active",
    Maintenance => "maintenance",
    Expiring => "expiring",
    Destroyed => "destroyed",
    Failed => "failed",
});

impl EnvState {
    /// States reachable in one step.
    pub fn next(&self) -> &'static [EnvState] {
        use EnvState::*;
        match self {
            Requested => &[Provisioning, Failed, Destroyed],
            Provisioning => &[Active, Failed],
            Active => &[Maintenance, Expiring, Failed],
            Maintenance => &[Active, Failed],
            Expiring => &[Destroyed, Active],
            Failed => &[Provisioning, Destroyed],
            Destroyed => &[],
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.next().is_empty()
    }

    /// Checks one step of the life cycle.
    pub fn transition(self, to: EnvState) -> Result<EnvState, CoreError> {
        crate::machine::step("environment", self, to, self.next())
    }
}

/// The name of an environment inside a pair, e.g. `PROD-MAIN`.
pub fn env_label(tier: Tier, role: EnvRole) -> String {
    format!("{tier}-{role}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normal_life_of_an_environment() {
        let mut s = EnvState::Requested;
        for to in [
            EnvState::Provisioning,
            EnvState::Active,
            EnvState::Maintenance,
            EnvState::Active,
            EnvState::Expiring,
            EnvState::Destroyed,
        ] {
            s = s.transition(to).unwrap();
        }
        assert!(s.is_terminal());
    }

    #[test]
    fn destroyed_environment_cannot_come_back() {
        let e = EnvState::Destroyed
            .transition(EnvState::Active)
            .unwrap_err();
        assert!(matches!(e, CoreError::IllegalTransition { .. }));
        assert!(
            e.to_string().contains("from `destroyed` to `active`"),
            "{e}"
        );
    }

    #[test]
    fn tiers_and_roles_parse_case_insensitively() {
        assert_eq!("val".parse::<Tier>().unwrap(), Tier::Val);
        assert_eq!("MAIN".parse::<EnvRole>().unwrap(), EnvRole::Main);
        assert!("STAGING"
            .parse::<Tier>()
            .unwrap_err()
            .to_string()
            .contains("PROD, VAL"));
        assert_eq!(env_label(Tier::Prod, EnvRole::Test), "PROD-TEST");
    }

    fn arb_state() -> impl Strategy<Value = EnvState> {
        proptest::sample::select(EnvState::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn transition_succeeds_exactly_when_listed(from in arb_state(), to in arb_state()) {
            let ok = from.transition(to).is_ok();
            prop_assert_eq!(ok, from.next().contains(&to));
        }

        #[test]
        fn every_walk_can_still_reach_destroyed(path in proptest::collection::vec(0usize..4, 0..30)) {
            let mut s = EnvState::Requested;
            for pick in path {
                let next = s.next();
                if next.is_empty() { break; }
                s = s.transition(next[pick % next.len()]).unwrap();
            }
            // From any state reached, destroyed is reachable (no dead ends but the end).
            let mut seen = vec![s];
            let mut i = 0;
            while i < seen.len() {
                for n in seen[i].next() {
                    if !seen.contains(n) { seen.push(*n); }
                }
                i += 1;
            }
            prop_assert!(seen.contains(&EnvState::Destroyed));
        }
    }
}
