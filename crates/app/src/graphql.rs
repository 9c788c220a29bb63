//! The GraphQL adapter, `strata-graphql`, mounted beside Strata's own API
//! (docs/graphql.md): its configuration and its mounting.

use serde::Deserialize;
use strata_graphql::{Graphql, Limits, Services};
use strata_http::AppState;

use crate::conduit::{ConduitSettings, check_mount_path, within};

/// `[graphql]`: where GraphQL is served, if at all, and what one request
/// may cost.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphqlSettings {
    pub enabled: bool,
    pub path: String,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    pub introspection: bool,
}

impl GraphqlSettings {
    pub(crate) fn validate(&self, conduit: &ConduitSettings) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        check_mount_path("graphql.path", &self.path)?;
        if conduit.enabled && within(&self.path, &conduit.path) {
            anyhow::bail!(
                "graphql.path {:?} is inside conduit.path {:?}, which would answer it: choose \
                 another path",
                self.path,
                conduit.path
            );
        }
        for (key, value) in [
            ("graphql.max_depth", self.max_depth),
            ("graphql.max_complexity", self.max_complexity),
            ("graphql.max_batch", self.max_batch),
        ] {
            if value == 0 {
                anyhow::bail!("{key} must be at least 1");
            }
        }
        Ok(())
    }

    /// The adapter's limits; bodies are bounded as on `/api/v1`.
    pub(crate) fn limits(&self, body_limit: usize) -> Limits {
        Limits {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            max_aliases: self.max_aliases,
            max_batch: self.max_batch,
            introspection: self.introspection,
            body_limit,
        }
    }
}

/// The adapter over `state`'s services.
pub fn adapter(settings: &GraphqlSettings, state: &AppState, body_limit: usize) -> Graphql {
    let services = Services {
        auth: state.auth.clone(),
        accounts: state.accounts.clone(),
        users: state.users.clone(),
        profiles: state.profiles.clone(),
        posts: state.posts.clone(),
        items: state.items.clone(),
        jobs: state.jobs.clone(),
        notifications: state.notifications.clone(),
        catalog: state.catalog.clone(),
        orders: state.orders.clone(),
    };
    let limits = settings.limits(body_limit);
    Graphql {
        schema: strata_graphql::schema(services.clone(), &limits),
        services,
        limits,
        request_id: strata_http::context::current_request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(path: &str) -> GraphqlSettings {
        GraphqlSettings {
            enabled: true,
            path: path.into(),
            max_depth: 10,
            max_complexity: 1_000,
            max_aliases: 30,
            max_batch: 5,
            introspection: false,
        }
    }

    #[test]
    fn the_path_must_be_clear_of_every_other_api() {
        let conduit = ConduitSettings {
            enabled: true,
            path: "/api".into(),
        };
        assert!(settings("/graphql").validate(&conduit).is_ok());
        for bad in [
            "/api/graphql",
            "/api",
            "/api/v1/graphql",
            "/docs",
            "graphql",
            "/graphql/",
        ] {
            assert!(settings(bad).validate(&conduit).is_err(), "{bad:?}");
        }
        let conduit_off = ConduitSettings {
            enabled: false,
            path: "/api".into(),
        };
        assert!(settings("/api/graphql").validate(&conduit_off).is_ok());
        let mut zero = settings("/graphql");
        zero.max_batch = 0;
        assert!(zero.validate(&conduit).is_err());
    }
}
