//! Choosing the backend of a turn: the conversation's choice, its privacy
//! policy, how the local model and the providers are doing, and the fallback
//! the conversation may be sticking to. The decision itself is
//! [`crate::router::route`]; this gathers what it needs, and turns the
//! decision into a backend ready to answer ([`Chosen`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hearth_backend::{BackendId, ChatBackend};
use hearth_hub::Fit;
use hearth_providers::ProviderModel;
use hearth_store::{Conversation, ConversationId};

use crate::local::LocalBackend;

use crate::router::{
    self, CloudHealth, Consent, FallbackReason, LocalHealth, Route, RouteInput, Sticky,
};
use crate::{App, CoreError};

/// The setting holding the user's minimum local decode speed (tokens/s).
const MIN_SPEED_SETTING: &str = "router.min_tok_s";
// Fit estimates of a model with no context set assume the hub's default,
// which is the most the engine loads such a model with; the two crates do
// not depend on each other, so the two numbers are held equal here.
const _: () = assert!(hearth_hub::RECOMMEND_CONTEXT == hearth_engine::DEFAULT_CONTEXT_CAP as u64);

/// The backend a turn goes to.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) backend: BackendId,
    pub(crate) fallback: Option<FallbackReason>,
    /// Whether the reason of an earlier fallback was still there.
    reason_present: bool,
}

/// A backend ready to answer a turn.
pub(crate) enum Chosen {
    /// The local model, loaded from `path`.
    Local {
        backend: LocalBackend,
        path: PathBuf,
    },
    /// A configured provider's model.
    Cloud(ProviderModel),
}

impl Chosen {
    pub(crate) fn backend(&self) -> &dyn ChatBackend {
        match self {
            Self::Local { backend, .. } => backend,
            Self::Cloud(model) => model,
        }
    }

    /// The local model's file and load time (for the library's speed record).
    pub(crate) fn local_run(&self) -> Option<(&Path, Duration)> {
        match self {
            Self::Local { backend, path } => Some((path, backend.engine().load_time())),
            Self::Cloud(_) => None,
        }
    }
}

impl App {
    /// The backend `plan` names, ready to answer a turn of `conv`: the local
    /// model loaded, or the provider's model. A local model that cannot load
    /// hands over to the fallback the policy allows, if any; the plan that
    /// holds in the end comes back with it.
    pub(crate) async fn choose_backend(
        &self,
        conv: &Conversation,
        plan: Plan,
        consent: Consent,
    ) -> Result<(Chosen, Plan), CoreError> {
        if !plan.backend.is_local() {
            return Ok((self.cloud_backend(&plan.backend)?, plan));
        }
        let path = self.model_path(conv)?;
        match self.local_engine(&path).await {
            Ok(engine) => {
                let backend = LocalBackend::new(engine, self.models().display_name_of(&path));
                Ok((Chosen::Local { backend, path }, plan))
            }
            Err(err) => {
                // Loading failed: the policy may allow another backend.
                let health = match &err {
                    CoreError::Engine(e) if e.is_out_of_memory() => LocalHealth::OutOfMemory,
                    _ => LocalHealth::Failed {
                        kind: "it could not be loaded".into(),
                    },
                };
                match self.plan_with(conv, consent, &health) {
                    Ok(plan) if !plan.backend.is_local() => {
                        tracing::info!(backend = %plan.backend, "local model failed to load; falling back");
                        Ok((self.cloud_backend(&plan.backend)?, plan))
                    }
                    _ => Err(err),
                }
            }
        }
    }

    /// A configured provider's model.
    pub(crate) fn cloud_backend(&self, id: &BackendId) -> Result<Chosen, CoreError> {
        Ok(Chosen::Cloud(self.provider(&id.provider)?.model(&id.model)))
    }

    /// Decides which backend answers the next turn of `conv`. Nothing has been
    /// stored or sent when this refuses or asks for consent.
    pub(crate) fn plan_turn(
        &self,
        conv: &Conversation,
        consent: Consent,
    ) -> Result<Plan, CoreError> {
        let local_health = self.local_health(conv);
        self.plan_with(conv, consent, &local_health)
    }

    pub(crate) fn plan_with(
        &self,
        conv: &Conversation,
        consent: Consent,
        local_health: &LocalHealth,
    ) -> Result<Plan, CoreError> {
        let local = conv
            .model
            .as_ref()
            .map(|m| BackendId::new(crate::LOCAL_BACKEND, m.clone()));
        let chosen = chosen_backend(conv)
            .or_else(|| local.clone())
            .ok_or(CoreError::NoModel)?;
        let sticky = self.sticky(&conv.id)?;
        let health = |id: &BackendId| self.cloud_health(id);
        let route = router::route(&RouteInput {
            chosen: &chosen,
            local: local.as_ref(),
            policy: &conv.privacy,
            local_health,
            cloud_health: &health,
            sticky: sticky.as_ref(),
            consent,
        });
        let reason_present = !matches!(local_health, LocalHealth::Ready | LocalHealth::None)
            || (!chosen.is_local() && health(&chosen) != CloudHealth::Ready);
        match route {
            Route::Use { backend, fallback } => Ok(Plan {
                backend,
                fallback,
                reason_present,
            }),
            Route::Ask { backend, reason } => Err(CoreError::ConsentNeeded {
                backend: backend.to_string(),
                reason: reason.map(|r| r.to_string()),
                documents: None,
            }),
            Route::Refuse { message } => Err(CoreError::Refused(message)),
        }
    }

    /// Remembers where the conversation went, so a fallback sticks.
    pub(crate) fn after_turn(&self, conv: &ConversationId, plan: &Plan) -> Result<(), CoreError> {
        let before = self.sticky(conv)?;
        let route = Route::Use {
            backend: plan.backend.clone(),
            fallback: plan.fallback.clone(),
        };
        let key = sticky_key(conv);
        match router::next_sticky(before.as_ref(), &route, plan.reason_present) {
            Some(sticky) => {
                let json = serde_json::to_string(&sticky)
                    .map_err(|e| CoreError::Invalid(format!("cannot save the fallback: {e}")))?;
                self.store().set_setting(&key, &json)?;
            }
            None if before.is_some() => {
                self.store().delete_setting(&key)?;
            }
            None => {}
        }
        Ok(())
    }

    /// Forgets a conversation's fallback: the user switched back.
    pub fn clear_fallback(&self, conv: &ConversationId) -> Result<(), CoreError> {
        self.store().delete_setting(&sticky_key(conv))?;
        Ok(())
    }

    /// The slowest local decode speed the user accepts before falling back.
    pub fn min_local_speed(&self) -> Result<Option<f64>, CoreError> {
        Ok(self
            .store()
            .setting(MIN_SPEED_SETTING)?
            .and_then(|v| v.parse::<f64>().ok()))
    }

    /// Sets (or clears) the minimum local decode speed.
    pub fn set_min_local_speed(&self, tok_s: Option<f64>) -> Result<(), CoreError> {
        match tok_s {
            Some(s) if s.is_finite() && s > 0.0 => {
                self.store()
                    .set_setting(MIN_SPEED_SETTING, &s.to_string())?;
            }
            Some(_) => {
                return Err(CoreError::Invalid(
                    "the minimum speed must be positive".into(),
                ));
            }
            None => {
                self.store().delete_setting(MIN_SPEED_SETTING)?;
            }
        }
        Ok(())
    }

    fn sticky(&self, conv: &ConversationId) -> Result<Option<Sticky>, CoreError> {
        Ok(self
            .store()
            .setting(&sticky_key(conv))?
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// What is known about the local model before loading it: its fit and its
    /// measured speed. Problems finding it are left to loading, which says
    /// them precisely.
    fn local_health(&self, conv: &Conversation) -> LocalHealth {
        let Some(model) = &conv.model else {
            return LocalHealth::None;
        };
        let Ok(path) = self.resolve_model(model) else {
            return LocalHealth::Ready;
        };
        let options = self.load_options(&path);
        let context = options
            .context_length
            .map_or(hearth_hub::RECOMMEND_CONTEXT, |n| n as u64);
        let Some(known) = self.models().fit_of(&path, context, options.kv_type) else {
            return LocalHealth::Ready;
        };
        if known.fit.fit == Fit::WontFit {
            return LocalHealth::WontFit {
                needed_mb: known.fit.total >> 20,
                available_mb: self.models().machine().available_ram >> 20,
            };
        }
        let measured = known.fit.decode_tok_s.filter(|_| known.fit.measured);
        match (measured, self.min_local_speed().ok().flatten()) {
            (Some(measured), Some(minimum)) if measured < minimum => {
                LocalHealth::TooSlow { measured, minimum }
            }
            _ => LocalHealth::Ready,
        }
    }
}

/// The cloud backend a conversation chose (`backend` = `provider:model`);
/// `None` means its local model.
pub(crate) fn chosen_backend(conv: &Conversation) -> Option<BackendId> {
    conv.backend
        .as_deref()
        .and_then(BackendId::parse)
        .filter(|id| !id.is_local())
}

fn sticky_key(conv: &ConversationId) -> String {
    format!("fallback.{conv}")
}
