//! The catalog version (`catalog_version`, one row): moved by every catalog
//! write and stock change in its own transaction, and read before every
//! public catalog answer (ADR 0020).
//!
//! On SQLite this process is the only writer of the file (operations.md: one
//! process per SQLite file), so it can know the version without reading it:
//! [`VersionWatch`] remembers the last value read while no write that moves
//! it was under way (ADR 0021). On PostgreSQL other instances write too, and
//! the version is read for every request, but concurrent requests share
//! reads (`coalesce.rs`).

use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DeriveIden};
use strata_domain::RepoError;

use crate::coalesce::Coalesced;
use crate::error::DbResultExt;
use crate::tx::{PerFile, per_file, shared_file};

/// `catalog_version`: one row (id 1).
#[derive(DeriveIden)]
enum CatalogVersion {
    Table,
    Id,
    Version,
}

/// Bumps the catalog version inside `txn`. Call it last in a transaction:
/// the version row is then the last lock every catalog write takes. Keep the
/// returned mark until the transaction has committed or failed: while it
/// lives, the version is read from the database.
pub(crate) async fn bump_version(
    txn: &DatabaseTransaction,
    watch: &VersionWatch,
) -> Result<WriteMark, RepoError> {
    // Taken before the update: from here until the mark is dropped, the
    // committed version may move under the remembered one.
    let mark = watch.writing();
    let update = Query::update()
        .table(CatalogVersion::Table)
        .value(
            CatalogVersion::Version,
            Expr::col(CatalogVersion::Version).add(1),
        )
        .and_where(Expr::col(CatalogVersion::Id).eq(1))
        .to_owned();
    txn.execute(&update)
        .await
        .or_repo("Failed to bump the catalog version")?;
    Ok(mark)
}

/// The committed catalog version: remembered, or read from `db`.
pub(crate) async fn read_version(
    db: &DatabaseConnection,
    watch: &VersionWatch,
) -> Result<i64, RepoError> {
    let epoch = match watch.remembered() {
        Remembered::Version(version) => return Ok(version),
        Remembered::Nothing { epoch } => epoch,
    };
    let version = watch.reads.get(|| select_version(db)).await?;
    if let Some(epoch) = epoch {
        watch.remember(epoch, version);
    }
    Ok(version)
}

/// What [`VersionWatch::remembered`] found.
#[derive(Debug, PartialEq, Eq)]
enum Remembered {
    Version(i64),
    /// Read the database; pass `epoch` (none without a watch) to
    /// [`VersionWatch::remember`] with what was read.
    Nothing {
        epoch: Option<u64>,
    },
}

async fn select_version(db: &DatabaseConnection) -> Result<i64, RepoError> {
    const CONTEXT: &str = "Failed to read the catalog version";
    let query = Query::select()
        .column(CatalogVersion::Version)
        .from(CatalogVersion::Table)
        .and_where(Expr::col(CatalogVersion::Id).eq(1))
        .to_owned();
    let row = db.query_one(&query).await.or_repo(CONTEXT)?;
    match row {
        Some(row) => row.try_get_by_index(0).or_repo(CONTEXT),
        None => Err(RepoError::unexpected(
            CONTEXT,
            "the catalog_version row is missing",
        )),
    }
}

/// What this process knows of the catalog version: on SQLite, the version
/// itself (shared per file by every repository that reads or moves it);
/// elsewhere (PostgreSQL, or a pool of one connection such as an in-memory
/// database), nothing, and reads are coalesced instead.
#[derive(Debug, Clone, Default)]
pub(crate) struct VersionWatch {
    known: Option<Arc<Mutex<State>>>,
    reads: Arc<Coalesced>,
}

#[derive(Debug, Default)]
struct State {
    /// The version last read while no write was under way.
    known: Option<i64>,
    /// Writes between their bump and the end of their transaction.
    writing: u32,
    /// Moves whenever a write begins or ends.
    epoch: u64,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VersionWatch {
    pub(crate) fn of(db: &DatabaseConnection) -> Self {
        static WATCHES: PerFile<Mutex<State>> = Mutex::new(Vec::new());
        Self {
            known: shared_file(db).map(|file| per_file(&WATCHES, file)),
            reads: Arc::default(),
        }
    }

    fn remembered(&self) -> Remembered {
        let Some(state) = &self.known else {
            return Remembered::Nothing { epoch: None };
        };
        let state = lock(state);
        match state.known {
            Some(version) if state.writing == 0 => Remembered::Version(version),
            _ => Remembered::Nothing {
                epoch: Some(state.epoch),
            },
        }
    }

    /// Keeps `version`, read from the database after [`Self::remembered`]
    /// gave `epoch`, only if no write began or ended since and none is under
    /// way: then nothing can have committed after the value read.
    fn remember(&self, epoch: u64, version: i64) {
        if let Some(state) = &self.known {
            let mut state = lock(state);
            if state.epoch == epoch && state.writing == 0 {
                state.known = Some(version);
            }
        }
    }

    fn writing(&self) -> WriteMark {
        if let Some(state) = &self.known {
            let mut state = lock(state);
            state.writing += 1;
            state.epoch += 1;
            state.known = None;
        }
        WriteMark(self.known.clone())
    }
}

/// A write that may move the version, from its bump until its transaction
/// committed or failed. Dropping it forgets the remembered version, so the
/// next read goes to the database whatever the outcome (a commit that
/// reported an error may still have committed).
#[must_use = "hold the mark until the transaction has committed"]
#[derive(Debug)]
pub(crate) struct WriteMark(Option<Arc<Mutex<State>>>);

impl Drop for WriteMark {
    fn drop(&mut self) {
        if let Some(state) = &self.0 {
            let mut state = lock(state);
            state.writing -= 1;
            state.epoch += 1;
            state.known = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> VersionWatch {
        VersionWatch {
            known: Some(Arc::default()),
            reads: Arc::default(),
        }
    }

    fn epoch(watch: &VersionWatch) -> u64 {
        match watch.remembered() {
            Remembered::Nothing { epoch: Some(epoch) } => epoch,
            other => panic!("expected a read, got {other:?}"),
        }
    }

    #[test]
    fn a_read_with_no_write_around_it_is_remembered() {
        let watch = watch();
        let before = epoch(&watch);
        watch.remember(before, 7);
        assert_eq!(watch.remembered(), Remembered::Version(7));
    }

    #[test]
    fn nothing_is_remembered_while_a_write_is_under_way_or_after_it() {
        let watch = watch();
        watch.remember(epoch(&watch), 7);
        let mark = watch.writing();
        // The write may commit at any moment: every read goes to the file.
        let during = epoch(&watch);
        watch.remember(during, 7);
        assert!(matches!(watch.remembered(), Remembered::Nothing { .. }));
        drop(mark);
        // Whatever the outcome, the next read goes to the file too.
        assert!(matches!(watch.remembered(), Remembered::Nothing { .. }));
        watch.remember(epoch(&watch), 8);
        assert_eq!(watch.remembered(), Remembered::Version(8));
    }

    #[test]
    fn a_read_that_a_write_overlapped_is_not_remembered() {
        let watch = watch();
        let before = epoch(&watch);
        // A write begins and commits while the read is in flight: the value
        // read may be the old one.
        drop(watch.writing());
        watch.remember(before, 7);
        assert!(matches!(watch.remembered(), Remembered::Nothing { .. }));
    }

    #[test]
    fn without_a_watch_every_read_goes_to_the_database() {
        let watch = VersionWatch::default();
        watch.remember(0, 7);
        assert_eq!(watch.remembered(), Remembered::Nothing { epoch: None });
        drop(watch.writing());
    }
}
