//! Webhook signing secrets: how they are made and signed with (Standard Webhooks) and how they
//! are sealed at rest. Below both `service/` (which creates and rekeys them) and `notify/`
//! (which opens them to sign deliveries), so neither imports the other.

pub mod sealing;
pub mod signature;

pub use sealing::WebhookKeys;
pub use signature::WebhookSecret;
