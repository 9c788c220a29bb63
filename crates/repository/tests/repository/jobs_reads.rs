//! The job queue's reads: lists, the metrics' counts, and the purge.

use chrono::Duration;
use strata_domain::jobs::{JobCount, JobFilter, JobRepository, JobStatus, Outcome};
use strata_repository::SeaJobRepository;
use uuid::Uuid;

use crate::common::{create_user, now, page, test_databases};
use crate::jobs::{claim, enqueued, ids, new_job, running};

#[tokio::test]
async fn list_filters_by_account_status_and_kind_newest_first_with_the_total() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        let t = now();
        let mut made = Vec::new();
        for (n, (kind, creator)) in [
            ("export", Some(ann.id)),
            ("import", Some(ann.id)),
            ("export", Some(bob.id)),
            ("export", Some(ann.id)),
            ("cleanup", None),
        ]
        .into_iter()
        .enumerate()
        {
            let mut job = new_job(kind, t);
            job.created_at = t + Duration::seconds(i64::try_from(n).unwrap());
            job.created_by = creator;
            repo.enqueue(job.clone()).await.unwrap();
            made.push(job.id);
        }
        repo.claim(claim("w", &["import"], 1), t).await.unwrap();

        let list = |filter| repo.list(filter, page(20, 0));
        let anns = list(JobFilter {
            created_by: Some(ann.id),
            ..JobFilter::default()
        })
        .await
        .unwrap();
        assert_eq!(
            ids(&anns.items),
            [made[3], made[1], made[0]],
            "{}",
            db.backend
        );
        assert_eq!(anns.total, 3);

        let anns_exports = list(JobFilter {
            created_by: Some(ann.id),
            kind: Some("export".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
        assert_eq!(ids(&anns_exports.items), [made[3], made[0]]);

        let running = list(JobFilter {
            status: Some(JobStatus::Running),
            ..JobFilter::default()
        })
        .await
        .unwrap();
        assert_eq!(ids(&running.items), [made[1]], "{}", db.backend);

        // A full page counts the rest.
        let everyone = repo.list(JobFilter::default(), page(2, 0)).await.unwrap();
        assert_eq!(ids(&everyone.items), [made[4], made[3]], "{}", db.backend);
        assert_eq!(everyone.total, 5);
    }
}

#[tokio::test]
async fn counts_group_by_kind_and_status_and_oldest_due_ignores_future_and_running_jobs() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        assert_eq!(repo.oldest_due(t).await.unwrap(), None);
        assert!(repo.counts().await.unwrap().is_empty());

        let running = enqueued(&repo, "a", t - Duration::seconds(30)).await;
        repo.claim(claim("w", &["a"], 1), t).await.unwrap();
        enqueued(&repo, "a", t - Duration::seconds(20)).await;
        enqueued(&repo, "b", t - Duration::seconds(10)).await;
        enqueued(&repo, "b", t + Duration::seconds(10)).await;
        assert_eq!(
            repo.find(running.id).await.unwrap().status,
            JobStatus::Running
        );

        assert_eq!(
            repo.oldest_due(t).await.unwrap(),
            Some(t - Duration::seconds(20)),
            "{}",
            db.backend
        );
        let counted = |kind: &str, status, count| JobCount {
            kind: kind.into(),
            status,
            count,
        };
        assert_eq!(
            repo.counts().await.unwrap(),
            [
                counted("a", JobStatus::Queued, 1),
                counted("a", JobStatus::Running, 1),
                counted("b", JobStatus::Queued, 2),
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn the_purge_finds_old_finished_jobs_oldest_first_and_deletes_only_those() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let mut finished = Vec::new();
        for minutes in [30, 10, 20, 1] {
            let job = running(&repo, t).await;
            let at = t - Duration::minutes(minutes);
            repo.finish(job.id, "w1", Outcome::Cancelled, at)
                .await
                .unwrap();
            finished.push(job.id);
        }
        let live = enqueued(&repo, "q", t - Duration::hours(1)).await;

        let cutoff = t - Duration::minutes(5);
        let old = repo.finished_before(cutoff, 10).await.unwrap();
        let old_ids: Vec<Uuid> = old.iter().map(|j| j.id).collect();
        assert_eq!(
            old_ids,
            [finished[0], finished[2], finished[1]],
            "{}",
            db.backend
        );
        let oldest = repo.finished_before(cutoff, 2).await.unwrap();
        assert_eq!(oldest.len(), 2);

        // A live job among the ids is left alone.
        let mut doomed = old_ids.clone();
        doomed.push(live.id);
        assert_eq!(
            repo.delete_finished(doomed).await.unwrap(),
            3,
            "{}",
            db.backend
        );
        assert_eq!(repo.delete_finished(Vec::new()).await.unwrap(), 0);
        assert!(repo.finished_before(cutoff, 10).await.unwrap().is_empty());
        assert_eq!(repo.find(live.id).await.unwrap().status, JobStatus::Queued);
        assert_eq!(
            repo.find(finished[3]).await.unwrap().status,
            JobStatus::Cancelled
        );
    }
}
