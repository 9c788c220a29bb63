//! Adapters of the domain's [`EventBus`](strata_domain::events::EventBus)
//! port (docs/adr/0014-event-bus.md):
//!
//! - [`InProcessBus`]: one server, the default;
//! - [`RedisBus`]: Redis pub/sub, when `redis.url` is set;
//! - [`PgBus`]: PostgreSQL `LISTEN/NOTIFY`, on PostgreSQL without Redis.
//!
//! Each process has one bus, one transport connection for receiving, and
//! fans out to its subscribers through a bounded broadcast channel.

mod codec;
mod hub;
mod memory;
mod postgres;
mod redis;

pub use codec::MAX_ENCODED_BYTES;
pub use hub::SUBSCRIBER_BUFFER;
pub use memory::InProcessBus;
pub use postgres::PgBus;
pub use redis::RedisBus;
