//! The guard on text that leaves the machine: a cloud turn is redacted (when
//! the user asked for it) and checked against the budget before anything is
//! stored or sent, and its cost is worked out from the provider's usage.

use hearth_backend::{BackendId, ChatRequest, Usage};

use crate::cost::Price;
use crate::redact::{RedactionSettings, Redactor};
use crate::turn::context;
use crate::{App, CoreError};

/// The setting holding [`RedactionSettings`].
pub(crate) const REDACTION_SETTING: &str = "redaction";

/// What a cloud turn passes before its text leaves the machine.
pub(crate) struct Outbound<'a> {
    app: &'a App,
    redaction: RedactionSettings,
    price: Option<Price>,
}

impl Outbound<'_> {
    /// The request with sensitive text replaced (when redaction is on), and
    /// the redactor that puts it back in the answer. Tool results are
    /// messages like any other; the arguments of the calls in the history
    /// are redacted inside their JSON strings.
    pub(crate) fn redact(&self, mut request: ChatRequest) -> (ChatRequest, Redactor) {
        let mut redactor = Redactor::new(&self.redaction);
        if self.redaction.enabled {
            for message in &mut request.messages {
                message.content = redactor.redact(&message.content);
                for call in &mut message.tool_calls {
                    call.arguments = redactor.redact_json(&call.arguments);
                }
            }
        }
        (request, redactor)
    }

    /// Refuses a request that would go over a budget; nothing was sent.
    pub(crate) fn admit(&self, request: &ChatRequest) -> Result<(), CoreError> {
        let estimate = self.price.map_or(0.0, |p| {
            p.cost(&Usage {
                input_tokens: context::estimate_tokens(request) as u64,
                output_tokens: 0,
            })
        });
        self.app.check_budget(estimate, hearth_store::now())
    }

    /// What the answer cost; `None` when the model has no known price.
    pub(crate) fn cost(&self, usage: &Usage) -> Option<f64> {
        self.price.map(|p| p.cost(usage))
    }
}

impl App {
    /// The guard for a turn to `backend`: `None` for the local engine.
    pub(crate) fn outbound(&self, backend: &BackendId) -> Result<Option<Outbound<'_>>, CoreError> {
        if backend.is_local() {
            return Ok(None);
        }
        Ok(Some(Outbound {
            app: self,
            redaction: self.redaction()?,
            price: self.price(&backend.provider, &backend.model)?,
        }))
    }

    /// The redaction settings.
    pub fn redaction(&self) -> Result<RedactionSettings, CoreError> {
        match self.store().setting(REDACTION_SETTING)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                CoreError::Invalid(format!("the saved redaction settings are damaged: {e}"))
            }),
            None => Ok(RedactionSettings::default()),
        }
    }

    /// Saves the redaction settings.
    pub fn set_redaction(&self, settings: &RedactionSettings) -> Result<(), CoreError> {
        let json = serde_json::to_string(settings)
            .map_err(|e| CoreError::Invalid(format!("cannot save redaction settings: {e}")))?;
        self.store().set_setting(REDACTION_SETTING, &json)?;
        Ok(())
    }
}
