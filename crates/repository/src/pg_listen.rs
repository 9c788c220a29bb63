//! PostgreSQL `LISTEN` on a connection of its own, kept open across server
//! restarts, and `NOTIFY`.
//!
//! Shared by the job wake-ups (`jobs_wake.rs`) and the event bus
//! (`strata-events`): both need one long-lived listening connection per
//! process that tells them when notifications may have been missed.

use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::oneshot;

use crate::db::WAIT;

/// How long the listener waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// What a listener reports to its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// The channel is listened to, for the first time or again after a
    /// loss: notifications sent in between (if any) were not received.
    Listening { first: bool },
    /// One notification's payload.
    Payload(&'a str),
    /// The connection failed; a new one is attempted after a pause.
    Lost,
}

/// A running listener; dropping it stops the task and closes its connection.
#[derive(Debug)]
pub struct Listener {
    _stop: oneshot::Sender<()>,
}

/// Listens on `channel` of `db` in a background task, reporting to `on`,
/// until the returned [`Listener`] is dropped. `None` on other backends
/// (SQLite has no notifications). Must be called inside a tokio runtime.
pub fn listen<F>(db: &DatabaseConnection, channel: &str, on: F) -> Option<Listener>
where
    F: FnMut(Notice<'_>) + Send + 'static,
{
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let (stop, stopped) = oneshot::channel();
    let pool = listener_pool(db.get_postgres_connection_pool());
    tokio::spawn(run(pool, channel.to_owned(), on, stopped));
    Some(Listener { _stop: stop })
}

/// Sends `payload` on `channel` through `conn`: inside a transaction it is
/// delivered at commit (and never after a rollback), on a plain connection
/// at once.
///
/// # Errors
/// The database's error; [`DbErr::Custom`] on a backend other than PostgreSQL.
pub async fn notify<C: ConnectionTrait>(
    conn: &C,
    channel: &str,
    payload: &str,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Err(DbErr::Custom("NOTIFY needs PostgreSQL".into()));
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await
    .map(drop)
}

/// A pool of one connection, to the main pool's server with its settings,
/// for the listener alone.
///
/// `PgListener` keeps the connection it takes for as long as it lives, and
/// takes it from the pool it is given: from the application's pool that
/// would be one connection fewer for requests, for good (and with a pool of
/// one, none). Its own pool also gives it what it needs to reconnect after
/// the server restarts. The connection is opened on first use and never
/// recycled for age or idleness: a listener is idle by nature.
fn listener_pool(main: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(WAIT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*main.connect_options()).clone())
}

async fn run<F>(pool: PgPool, channel: String, mut on: F, mut stop: oneshot::Receiver<()>)
where
    F: FnMut(Notice<'_>),
{
    listen_until(&pool, &channel, &mut on, &mut stop).await;
    // Bounded: a connection to a vanished server must not keep the task.
    let _ = tokio::time::timeout(WAIT, pool.close()).await;
}

/// Listens, reconnecting after every failure, until `stop` resolves.
async fn listen_until<F>(pool: &PgPool, channel: &str, on: &mut F, stop: &mut oneshot::Receiver<()>)
where
    F: FnMut(Notice<'_>),
{
    let mut first = true;
    loop {
        let listening = tokio::select! {
            _ = &mut *stop => return,
            listening = subscribe(pool, channel) => listening,
        };
        match listening {
            Ok(mut listener) => {
                on(Notice::Listening { first });
                first = false;
                loop {
                    let received = tokio::select! {
                        _ = &mut *stop => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(notification)) => on(Notice::Payload(notification.payload())),
                        // The connection dropped: listen anew on a fresh one,
                        // so `Listening` is reported once it really listens.
                        Ok(None) => {
                            tracing::warn!(
                                channel,
                                "notification connection lost; listening again"
                            );
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(channel, error = %err, "notifications lost; listening again");
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(channel, error = %err, "cannot listen for notifications; retrying");
            }
        }
        on(Notice::Lost);
        tokio::select! {
            _ = &mut *stop => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

async fn subscribe(pool: &PgPool, channel: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
