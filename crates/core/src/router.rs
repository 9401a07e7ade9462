//! The router: which backend answers a turn, as a pure function of the
//! conversation's choice, its privacy policy and how the backends are doing.
//!
//! - **Local only** (the default): nothing leaves the machine. When the local
//!   model cannot answer, the turn is refused with the reason; a cloud model
//!   chosen for such a conversation is refused too.
//! - **Ask before cloud**: a cloud backend is used only after the user said yes
//!   for this turn ([`Route::Ask`] until then).
//! - **Cloud fallback allowed**: the chain is tried in order when the local
//!   model cannot answer.
//!
//! And the other way: a chosen cloud backend that is unreachable (offline,
//! breaker open) falls back to the local model when the conversation has one.
//!
//! No flapping: a conversation that fell back stays on its fallback until the
//! user switches back or the reason was gone for a whole turn ([`Sticky`]).

use hearth_backend::BackendId;
use hearth_store::PrivacyPolicy;
use serde::{Deserialize, Serialize};

/// How the local model is doing, as far as is known before the turn.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalHealth {
    Ready,
    /// The fit estimate says it will not fit in available memory.
    WontFit {
        needed_mb: u64,
        available_mb: u64,
    },
    /// Loading it failed for lack of memory.
    OutOfMemory,
    /// Its measured decode speed is below the user's minimum.
    TooSlow {
        measured: f64,
        minimum: f64,
    },
    /// It failed in this turn before writing anything.
    Failed {
        kind: String,
    },
    /// The conversation has no local model.
    None,
}

/// How a cloud backend is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudHealth {
    Ready,
    /// Hearth's offline switch is on, or the machine has no network.
    Offline,
    /// The provider's circuit breaker is open.
    BreakerOpen,
    /// No such provider is configured.
    Unknown,
}

/// Why an answer came from another backend than the chosen one. Shown on the
/// answer and recorded with its usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FallbackReason {
    WontFit { needed_mb: u64, available_mb: u64 },
    OutOfMemory,
    TooSlow { measured: f64, minimum: f64 },
    LocalFailed { kind: String },
    Offline,
    BreakerOpen { provider: String },
}

impl FallbackReason {
    fn from_local(health: &LocalHealth) -> Option<Self> {
        Some(match health {
            LocalHealth::Ready | LocalHealth::None => return None,
            LocalHealth::WontFit {
                needed_mb,
                available_mb,
            } => Self::WontFit {
                needed_mb: *needed_mb,
                available_mb: *available_mb,
            },
            LocalHealth::OutOfMemory => Self::OutOfMemory,
            LocalHealth::TooSlow { measured, minimum } => Self::TooSlow {
                measured: *measured,
                minimum: *minimum,
            },
            LocalHealth::Failed { kind } => Self::LocalFailed { kind: kind.clone() },
        })
    }
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WontFit {
                needed_mb,
                available_mb,
            } => write!(
                f,
                "the local model needs about {needed_mb} MB but only {available_mb} MB is available"
            ),
            Self::OutOfMemory => f.write_str("the local model ran out of memory while loading"),
            Self::TooSlow { measured, minimum } => write!(
                f,
                "the local model runs at {measured:.1} tokens/s, below your minimum of {minimum:.1}"
            ),
            Self::LocalFailed { kind } => write!(f, "the local model failed ({kind})"),
            Self::Offline => f.write_str("Hearth is offline"),
            Self::BreakerOpen { provider } => {
                write!(f, "{provider} is failing and requests to it are paused")
            }
        }
    }
}

/// Where a conversation fell back to, kept between turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sticky {
    pub backend: BackendId,
    pub reason: FallbackReason,
    /// Turns in a row that started with the reason gone.
    pub clear_turns: u32,
}

/// The user's answer to a consent request for this turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consent {
    #[default]
    NotAsked,
    Granted,
    Denied,
}

/// What the router needs to know for one turn.
pub struct RouteInput<'a> {
    /// The backend the conversation chose.
    pub chosen: &'a BackendId,
    /// The conversation's local model, when it has one (the way back from cloud).
    pub local: Option<&'a BackendId>,
    pub policy: &'a PrivacyPolicy,
    pub local_health: &'a LocalHealth,
    pub cloud_health: &'a dyn Fn(&BackendId) -> CloudHealth,
    pub sticky: Option<&'a Sticky>,
    pub consent: Consent,
}

/// The router's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Answer with `backend`; `fallback` says why it is not the chosen one.
    Use {
        backend: BackendId,
        fallback: Option<FallbackReason>,
    },
    /// Ask the user before sending anything to `backend`.
    Ask {
        backend: BackendId,
        reason: Option<FallbackReason>,
    },
    /// Do not answer; nothing is sent anywhere.
    Refuse { message: String },
}

/// The sticky state after a turn that took `route` (`reason_present`: the
/// reason of an earlier fallback was still there at the start of the turn).
pub fn next_sticky(before: Option<&Sticky>, route: &Route, reason_present: bool) -> Option<Sticky> {
    match route {
        Route::Use {
            backend,
            fallback: Some(reason),
        } => Some(Sticky {
            backend: backend.clone(),
            reason: reason.clone(),
            clear_turns: match before {
                Some(s) if &s.backend == backend && !reason_present => s.clear_turns + 1,
                _ => 0,
            },
        }),
        Route::Use { fallback: None, .. } => None,
        Route::Ask { .. } | Route::Refuse { .. } => before.cloned(),
    }
}

/// Decides who answers this turn.
pub fn route(input: &RouteInput<'_>) -> Route {
    if input.chosen.is_local() {
        route_local(input)
    } else {
        route_cloud(input)
    }
}

fn route_local(input: &RouteInput<'_>) -> Route {
    let reason = FallbackReason::from_local(input.local_health);
    // An earlier fallback holds until its reason was gone for a whole turn.
    if let Some(sticky) = input.sticky {
        let back = reason.is_none() && sticky.clear_turns >= 1;
        if !back && cloud_allowed(input.policy) {
            let reason = reason.clone().unwrap_or_else(|| sticky.reason.clone());
            if (input.cloud_health)(&sticky.backend) == CloudHealth::Ready {
                return consent_for(input, sticky.backend.clone(), Some(reason));
            }
        }
    }
    let Some(reason) = reason else {
        return Route::Use {
            backend: input.chosen.clone(),
            fallback: None,
        };
    };
    let chain = match input.policy {
        PrivacyPolicy::LocalOnly => {
            return Route::Refuse {
                message: format!(
                    "{reason}, and this conversation is local only: nothing was sent anywhere. \
                     Choose a smaller model, or allow a cloud fallback for this conversation."
                ),
            };
        }
        PrivacyPolicy::AskBeforeCloud { chain } | PrivacyPolicy::CloudFallback { chain } => chain,
    };
    let mut unavailable = Vec::new();
    for candidate in chain.iter().filter_map(|c| BackendId::parse(c)) {
        match (input.cloud_health)(&candidate) {
            CloudHealth::Ready => return consent_for(input, candidate, Some(reason)),
            health => unavailable.push(format!("{candidate} ({})", health_text(health))),
        }
    }
    Route::Refuse {
        message: if unavailable.is_empty() {
            format!("{reason}, and this conversation has no cloud fallback set")
        } else {
            format!(
                "{reason}, and no fallback can answer: {}",
                unavailable.join(", ")
            )
        },
    }
}

fn route_cloud(input: &RouteInput<'_>) -> Route {
    if matches!(input.policy, PrivacyPolicy::LocalOnly) {
        return Route::Refuse {
            message: format!(
                "this conversation is local only, so nothing is sent to {}; \
                 change its privacy policy to use a cloud model",
                input.chosen
            ),
        };
    }
    let reason = match (input.cloud_health)(input.chosen) {
        CloudHealth::Ready => return consent_for(input, input.chosen.clone(), None),
        CloudHealth::Offline => FallbackReason::Offline,
        CloudHealth::BreakerOpen => FallbackReason::BreakerOpen {
            provider: input.chosen.provider.clone(),
        },
        CloudHealth::Unknown => {
            return Route::Refuse {
                message: format!(
                    "no provider named {:?} is set up (see `hearth provider list`)",
                    input.chosen.provider
                ),
            };
        }
    };
    match input.local {
        Some(local) if *input.local_health == LocalHealth::Ready => Route::Use {
            backend: local.clone(),
            fallback: Some(reason),
        },
        _ => Route::Refuse {
            message: format!("{reason}, and this conversation has no local model to fall back to"),
        },
    }
}

fn consent_for(
    input: &RouteInput<'_>,
    backend: BackendId,
    reason: Option<FallbackReason>,
) -> Route {
    let ask = matches!(input.policy, PrivacyPolicy::AskBeforeCloud { .. });
    match (ask, input.consent) {
        (true, Consent::NotAsked) => Route::Ask { backend, reason },
        (true, Consent::Denied) => Route::Refuse {
            message: format!("you declined sending this message to {backend}; nothing was sent"),
        },
        _ => Route::Use {
            backend,
            fallback: reason,
        },
    }
}

fn cloud_allowed(policy: &PrivacyPolicy) -> bool {
    !matches!(policy, PrivacyPolicy::LocalOnly)
}

fn health_text(health: CloudHealth) -> &'static str {
    match health {
        CloudHealth::Ready => "ready",
        CloudHealth::Offline => "offline",
        CloudHealth::BreakerOpen => "failing, paused",
        CloudHealth::Unknown => "not set up",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> BackendId {
        BackendId::new("local", "smollm2")
    }

    fn openai() -> BackendId {
        BackendId::new("openai", "gpt-4o-mini")
    }

    fn fallback() -> PrivacyPolicy {
        PrivacyPolicy::CloudFallback {
            chain: vec!["anthropic:claude".into(), "openai:gpt-4o-mini".into()],
        }
    }

    fn too_big() -> LocalHealth {
        LocalHealth::WontFit {
            needed_mb: 9000,
            available_mb: 4000,
        }
    }

    fn decide(
        chosen: &BackendId,
        policy: &PrivacyPolicy,
        health: &LocalHealth,
        cloud: &dyn Fn(&BackendId) -> CloudHealth,
        sticky: Option<&Sticky>,
        consent: Consent,
    ) -> Route {
        let local = local();
        route(&RouteInput {
            chosen,
            local: Some(&local),
            policy,
            local_health: health,
            cloud_health: cloud,
            sticky,
            consent,
        })
    }

    fn only_openai(id: &BackendId) -> CloudHealth {
        if id.provider == "openai" {
            CloudHealth::Ready
        } else {
            CloudHealth::BreakerOpen
        }
    }

    #[test]
    fn a_ready_local_model_answers_under_every_policy() {
        let ready = |_: &BackendId| CloudHealth::Ready;
        for policy in [PrivacyPolicy::LocalOnly, fallback()] {
            let route = decide(
                &local(),
                &policy,
                &LocalHealth::Ready,
                &ready,
                None,
                Consent::NotAsked,
            );
            assert_eq!(
                route,
                Route::Use {
                    backend: local(),
                    fallback: None
                }
            );
        }
    }

    #[test]
    fn local_only_refuses_instead_of_falling_back() {
        let ready = |_: &BackendId| CloudHealth::Ready;
        let route = decide(
            &local(),
            &PrivacyPolicy::LocalOnly,
            &too_big(),
            &ready,
            None,
            Consent::NotAsked,
        );
        let Route::Refuse { message } = route else {
            panic!("{route:?}")
        };
        assert!(
            message.contains("local only") && message.contains("9000 MB"),
            "{message}"
        );
        let route = decide(
            &openai(),
            &PrivacyPolicy::LocalOnly,
            &LocalHealth::Ready,
            &ready,
            None,
            Consent::Granted,
        );
        assert!(matches!(route, Route::Refuse { .. }), "{route:?}");
    }

    #[test]
    fn fallback_takes_the_first_healthy_backend_of_the_chain() {
        let route = decide(
            &local(),
            &fallback(),
            &too_big(),
            &only_openai,
            None,
            Consent::NotAsked,
        );
        assert_eq!(
            route,
            Route::Use {
                backend: openai(),
                fallback: Some(FallbackReason::WontFit {
                    needed_mb: 9000,
                    available_mb: 4000
                })
            }
        );
        let nothing = |_: &BackendId| CloudHealth::Offline;
        let route = decide(
            &local(),
            &fallback(),
            &LocalHealth::OutOfMemory,
            &nothing,
            None,
            Consent::NotAsked,
        );
        let Route::Refuse { message } = route else {
            panic!("{route:?}")
        };
        assert!(message.contains("anthropic:claude (offline)"), "{message}");
    }

    #[test]
    fn ask_waits_for_consent_and_a_no_sends_nothing() {
        let policy = PrivacyPolicy::AskBeforeCloud {
            chain: vec!["openai:gpt-4o-mini".into()],
        };
        let ready = |_: &BackendId| CloudHealth::Ready;
        let route = decide(
            &local(),
            &policy,
            &too_big(),
            &ready,
            None,
            Consent::NotAsked,
        );
        assert!(matches!(&route, Route::Ask { backend, reason: Some(_) } if *backend == openai()));
        let route = decide(&local(), &policy, &too_big(), &ready, None, Consent::Denied);
        assert!(matches!(route, Route::Refuse { .. }));
        let route = decide(
            &local(),
            &policy,
            &too_big(),
            &ready,
            None,
            Consent::Granted,
        );
        assert!(matches!(
            route,
            Route::Use {
                fallback: Some(_),
                ..
            }
        ));
        // A chosen cloud model under "ask" asks too.
        let route = decide(
            &openai(),
            &policy,
            &LocalHealth::Ready,
            &ready,
            None,
            Consent::NotAsked,
        );
        assert!(matches!(route, Route::Ask { reason: None, .. }));
    }

    #[test]
    fn an_unreachable_cloud_backend_falls_back_to_the_local_model() {
        let offline = |_: &BackendId| CloudHealth::Offline;
        let route = decide(
            &openai(),
            &fallback(),
            &LocalHealth::Ready,
            &offline,
            None,
            Consent::NotAsked,
        );
        assert_eq!(
            route,
            Route::Use {
                backend: local(),
                fallback: Some(FallbackReason::Offline)
            }
        );
        let open = |_: &BackendId| CloudHealth::BreakerOpen;
        let route = decide(
            &openai(),
            &fallback(),
            &LocalHealth::None,
            &open,
            None,
            Consent::NotAsked,
        );
        assert!(matches!(route, Route::Refuse { .. }));
    }

    #[test]
    fn a_fallback_sticks_until_the_reason_is_gone_for_a_whole_turn() {
        let policy = fallback();
        let ready = |_: &BackendId| CloudHealth::Ready;
        let slow = LocalHealth::TooSlow {
            measured: 2.0,
            minimum: 5.0,
        };
        let first = decide(&local(), &policy, &slow, &ready, None, Consent::NotAsked);
        let sticky = next_sticky(None, &first, true).unwrap();
        assert_eq!(sticky.backend.provider, "anthropic");
        // The reason is gone at the start of the next turn: still the fallback.
        let second = decide(
            &local(),
            &policy,
            &LocalHealth::Ready,
            &ready,
            Some(&sticky),
            Consent::NotAsked,
        );
        assert!(matches!(&second, Route::Use { backend, .. } if backend.provider == "anthropic"));
        let sticky = next_sticky(Some(&sticky), &second, false).unwrap();
        assert_eq!(sticky.clear_turns, 1);
        // Gone for a whole turn: back to the local model, and the state clears.
        let third = decide(
            &local(),
            &policy,
            &LocalHealth::Ready,
            &ready,
            Some(&sticky),
            Consent::NotAsked,
        );
        assert_eq!(
            third,
            Route::Use {
                backend: local(),
                fallback: None
            }
        );
        assert_eq!(next_sticky(Some(&sticky), &third, false), None);
        // If it comes back meanwhile, the count starts again.
        let again = decide(
            &local(),
            &policy,
            &slow,
            &ready,
            Some(&sticky),
            Consent::NotAsked,
        );
        assert_eq!(
            next_sticky(Some(&sticky), &again, true)
                .unwrap()
                .clear_turns,
            0
        );
    }
}
