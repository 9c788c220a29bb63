//! Items, the blog and user administration over real HTTP, with two users
//! and an admin, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, assert_problem, for_each_backend};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn create_item(app: &TestApp, token: &str, title: &str) -> Value {
    let response = app
        .post_json(
            "/api/v1/items",
            &json!({"title": title, "description": "from the test"}),
            Some(token),
        )
        .await;
    assert_eq!(response.status(), 201);
    body(response).await
}

#[tokio::test]
async fn items_are_owner_scoped_and_another_users_item_is_404() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        let bob = app.registered(&TestUser::generate()).await;
        let admin = app.admin().await;
        let item = create_item(&app, &alice.access, "Alice's milk").await;
        create_item(&app, &bob.access, "Bob's bread").await;
        let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());

        let page = body(app.get("/api/v1/items", Some(&alice.access)).await).await;
        assert_eq!(page["total"], 1);
        assert_eq!(page["items"][0]["title"], "Alice's milk");

        // Bob can neither see nor touch it, and learns nothing of its existence.
        assert_problem(app.get(&path, Some(&bob.access)).await, 404, "NOT_FOUND").await;
        let patch = json!({"title": "mine"});
        assert_problem(
            app.send(Method::PATCH, &path, Some(&bob.access), Some(&patch))
                .await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_problem(
            app.send(Method::DELETE, &path, Some(&bob.access), None)
                .await,
            404,
            "NOT_FOUND",
        )
        .await;
        let owner_filter = format!(
            "/api/v1/items?owner_id={}",
            item["owner_id"].as_str().unwrap()
        );
        assert_problem(
            app.get(&owner_filter, Some(&bob.access)).await,
            403,
            "FORBIDDEN",
        )
        .await;

        // The admin sees everyone's, and can filter by owner.
        assert_eq!(
            body(app.get("/api/v1/items", Some(&admin.access)).await).await["total"],
            2
        );
        assert_eq!(
            body(app.get(&owner_filter, Some(&admin.access)).await).await["total"],
            1
        );
        assert_eq!(app.get(&path, Some(&admin.access)).await.status(), 200);

        // Anonymous callers get 401.
        assert_problem(app.get("/api/v1/items", None).await, 401, "UNAUTHENTICATED").await;

        assert_eq!(
            app.send(Method::DELETE, &path, Some(&alice.access), None)
                .await
                .status(),
            204
        );
        assert_problem(app.get(&path, Some(&alice.access)).await, 404, "NOT_FOUND").await;
    })
    .await;
}

#[tokio::test]
async fn etags_guard_updates_and_two_racing_patches_cannot_both_win() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        let item = create_item(&app, &alice.access, "Milk").await;
        let url = app.url(&format!("/api/v1/items/{}", item["id"].as_str().unwrap()));
        let read = app
            .client
            .get(&url)
            .bearer_auth(&alice.access)
            .send()
            .await
            .unwrap();
        let etag = read.headers()["etag"].to_str().unwrap().to_owned();

        let patch = |title: &'static str, tag: String| {
            app.client
                .patch(&url)
                .bearer_auth(&alice.access)
                .header("if-match", tag)
                .json(&json!({"title": title}))
                .send()
        };
        let (a, b) = tokio::join!(patch("First", etag.clone()), patch("Second", etag.clone()));
        let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412]);

        // The stale tag changes nothing more.
        let stale = patch("Third", etag.clone()).await.unwrap();
        assert_problem(stale, 412, "PRECONDITION_FAILED").await;
        let now = app
            .client
            .get(&url)
            .bearer_auth(&alice.access)
            .send()
            .await
            .unwrap();
        assert_ne!(now.headers()["etag"].to_str().unwrap(), etag);
        let title = body(now).await["title"].as_str().unwrap().to_owned();
        assert!(title == "First" || title == "Second", "{title}");
    })
    .await;
}

#[tokio::test]
async fn list_parameters_are_bounded_searched_and_sorted() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        for title in ["banana", "Apple pie", "cherry", "apple juice"] {
            create_item(&app, &alice.access, title).await;
        }
        let get = |q: &str| {
            let path = format!("/api/v1/items?{q}");
            let token = alice.access.clone();
            let app = &app;
            async move { app.get(&path, Some(&token)).await }
        };
        assert_problem(get("limit=1000").await, 422, "VALIDATION_FAILED").await;
        assert_problem(get("limit=0").await, 422, "VALIDATION_FAILED").await;
        assert_problem(get("offset=-1").await, 422, "VALIDATION_FAILED").await;
        assert_problem(get("sort=owner_secret").await, 422, "VALIDATION_FAILED").await;

        let page = body(get("q=APPLE&sort=title").await).await;
        let titles: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap())
            .collect();
        let mut sorted = titles.clone();
        sorted.sort_by_key(|t| t.to_lowercase());
        assert_eq!(titles.len(), 2, "{titles:?}");
        assert!(
            titles.iter().all(|t| t.to_lowercase().contains("apple")),
            "{titles:?}"
        );
        assert_eq!(page["total"], 2);

        let page = body(get("limit=2&offset=1&sort=-created_at").await).await;
        assert_eq!(page["total"], 4);
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], 1);
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["items"][0]["title"], "cherry");
    })
    .await;
}

#[tokio::test]
async fn next_cursor_walks_a_list_and_a_foreign_cursor_is_refused() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        let alice = app.registered(&user).await;
        for title in ["e", "b", "d", "a", "c"] {
            create_item(&app, &alice.access, title).await;
        }
        let get = |q: String| {
            let path = format!("/api/v1/items?{q}");
            let token = alice.access.clone();
            let app = &app;
            async move { app.get(&path, Some(&token)).await }
        };
        let mut page = body(get("limit=2&sort=-title".into()).await).await;
        let mut titles = Vec::new();
        let mut cursors = Vec::new();
        loop {
            for item in page["items"].as_array().unwrap() {
                titles.push(item["title"].as_str().unwrap().to_owned());
            }
            assert_eq!(page["total"], 5);
            let Some(cursor) = page["next_cursor"].as_str().map(str::to_owned) else {
                break;
            };
            page = body(get(format!("limit=2&sort=-title&cursor={cursor}")).await).await;
            assert_eq!(page["offset"], 0);
            cursors.push(cursor);
        }
        assert_eq!(titles, ["e", "d", "c", "b", "a"]);
        // Two full pages gave a cursor; the short last one ends the walk.
        assert_eq!(cursors.len(), 2);

        // Posts page the same way, anonymously.
        for title in ["p1", "p2", "p3"] {
            let created = app
                .post_json(
                    "/api/v1/posts",
                    &json!({"title": title, "body": "b"}),
                    Some(&alice.access),
                )
                .await;
            assert_eq!(created.status(), 201);
        }
        let author = user.username.clone();
        let posts = |q: String| {
            let path = format!("/api/v1/posts?author={author}&sort=title&limit=2{q}");
            let app = &app;
            async move { body(app.get(&path, None).await).await }
        };
        let first = posts(String::new()).await;
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let second = posts(format!("&cursor={cursor}")).await;
        assert_eq!(second["items"][0]["title"], "p3");
        assert_eq!(second["total"], 3);
        assert!(second.get("next_cursor").is_none());

        // An empty cursor names no position: the first page.
        let first = body(get("limit=2&sort=-title&cursor=".into()).await).await;
        assert_eq!(first["items"][0]["title"], "e");

        let cursor = &cursors[0];
        for q in [
            format!("sort=title&cursor={cursor}"),
            format!("sort=-title&offset=2&cursor={cursor}"),
            "sort=-title&cursor=bm90LW91cnM".into(),
            "cursor=%00".into(),
        ] {
            assert_problem(get(q).await, 422, "VALIDATION_FAILED").await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_blog_is_public_to_read_and_author_or_admin_to_change() {
    for_each_backend(|app| async move {
        let alice_user = TestUser::generate();
        let alice = app.registered(&alice_user).await;
        let bob = app.registered(&TestUser::generate()).await;
        let carol = app.registered(&TestUser::generate()).await;
        let admin = app.admin().await;

        let response = app
            .post_json(
                "/api/v1/posts",
                &json!({"title": "Hello", "body": "First post"}),
                Some(&alice.access),
            )
            .await;
        assert_eq!(response.status(), 201);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let post = body(response).await;
        assert_eq!(post["author"]["username"], alice_user.username);
        assert_eq!(post["comment_count"], 0);

        // Public reads, filters.
        assert_eq!(body(app.get(&location, None).await).await["title"], "Hello");
        let by_author = format!(
            "/api/v1/posts?author={}",
            alice_user.username.to_uppercase()
        );
        assert_eq!(body(app.get(&by_author, None).await).await["total"], 1);
        assert_eq!(
            body(app.get("/api/v1/posts?q=FIRST", None).await).await["total"],
            1
        );
        assert_eq!(
            body(app.get("/api/v1/posts?author=nobody", None).await).await["total"],
            0
        );

        // Comments: Bob comments, Carol cannot delete Bob's comment, Alice (post author) can.
        let comments = format!("{location}/comments");
        let bobs = body(
            app.post_json(&comments, &json!({"body": "Nice"}), Some(&bob.access))
                .await,
        )
        .await;
        let bobs2 = body(
            app.post_json(&comments, &json!({"body": "Again"}), Some(&bob.access))
                .await,
        )
        .await;
        assert_eq!(
            body(app.get(&location, None).await).await["comment_count"],
            2
        );
        let listed = body(app.get(&comments, None).await).await;
        let created_at = format!("{comments}/{}", bobs["id"].as_str().unwrap());
        assert_eq!(
            body(app.get(&created_at, None).await).await["body"],
            "Nice",
            "the Location resolves"
        );
        assert_eq!(listed["items"][0]["body"], "Nice", "oldest first");
        let bobs_path = format!("{comments}/{}", bobs["id"].as_str().unwrap());
        assert_problem(
            app.send(Method::DELETE, &bobs_path, Some(&carol.access), None)
                .await,
            403,
            "FORBIDDEN",
        )
        .await;
        assert_eq!(
            app.send(Method::DELETE, &bobs_path, Some(&alice.access), None)
                .await
                .status(),
            204
        );
        assert_problem(
            app.send(Method::DELETE, &bobs_path, Some(&alice.access), None)
                .await,
            404,
            "NOT_FOUND",
        )
        .await;
        let bobs2_path = format!("{comments}/{}", bobs2["id"].as_str().unwrap());
        assert_eq!(
            app.send(Method::DELETE, &bobs2_path, Some(&bob.access), None)
                .await
                .status(),
            204
        );

        // Edits: Bob cannot, the admin can.
        let edit = json!({"title": "Edited"});
        assert_problem(
            app.send(Method::PATCH, &location, Some(&bob.access), Some(&edit))
                .await,
            403,
            "FORBIDDEN",
        )
        .await;
        assert_eq!(
            body(
                app.send(Method::PATCH, &location, Some(&admin.access), Some(&edit))
                    .await
            )
            .await["title"],
            "Edited"
        );
        assert_problem(
            app.post_json("/api/v1/posts", &json!({"title": "x", "body": "y"}), None)
                .await,
            401,
            "UNAUTHENTICATED",
        )
        .await;

        // Deleting the post deletes its comments.
        app.post_json(
            &comments,
            &json!({"body": "Last word"}),
            Some(&carol.access),
        )
        .await;
        assert_eq!(
            app.send(Method::DELETE, &location, Some(&alice.access), None)
                .await
                .status(),
            204
        );
        assert_problem(app.get(&location, None).await, 404, "NOT_FOUND").await;
        assert_problem(app.get(&comments, None).await, 404, "NOT_FOUND").await;
    })
    .await;
}

/// Each admin route for anonymous, plain user and admin callers.
#[tokio::test]
async fn admin_routes_follow_the_authorization_matrix() {
    for_each_backend(|app| async move {
        let user = app.registered(&TestUser::generate()).await;
        let admin = app.admin().await;
        let target = body(app.get("/api/v1/users/me", Some(&user.access)).await).await;
        let target_path = format!("/api/v1/users/{}", target["id"].as_str().unwrap());
        let new_user = json!({"email": "made@example.com", "username": "made_by_admin", "password": "Secret123", "role": "user"});
        let routes: Vec<(Method, String, Option<Value>, u16)> = vec![
            (Method::GET, "/api/v1/users".into(), None, 200),
            (Method::GET, "/api/v1/users/stats".into(), None, 200),
            (Method::GET, "/api/v1/users/export".into(), None, 200),
            (Method::GET, target_path.clone(), None, 200),
            (Method::PATCH, target_path.clone(), Some(json!({"full_name": "Renamed"})), 200),
            (Method::POST, "/api/v1/users".into(), Some(new_user), 201),
        ];
        for (method, path, payload, admin_status) in routes {
            let anonymous = app.send(method.clone(), &path, None, payload.as_ref()).await;
            assert_eq!(anonymous.status(), 401, "anonymous {method} {path}");
            let plain = app.send(method.clone(), &path, Some(&user.access), payload.as_ref()).await;
            assert_problem(plain, 403, "FORBIDDEN").await;
            let allowed = app.send(method.clone(), &path, Some(&admin.access), payload.as_ref()).await;
            assert_eq!(allowed.status(), admin_status, "admin {method} {path}");
        }
        assert_problem(app.send(Method::DELETE, &target_path, Some(&user.access), None).await, 403, "FORBIDDEN").await;
        assert_eq!(app.send(Method::DELETE, &target_path, Some(&admin.access), None).await.status(), 204);
    })
    .await;
}

#[tokio::test]
async fn deactivating_or_demoting_takes_effect_on_existing_tokens_at_once() {
    for_each_backend(|app| async move {
        let victim = TestUser::generate();
        let tokens = app.registered(&victim).await;
        let admin = app.admin().await;
        let me = body(app.get("/api/v1/users/me", Some(&tokens.access)).await).await;
        let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());

        let deactivate = json!({"is_active": false});
        let updated = body(
            app.send(Method::PATCH, &path, Some(&admin.access), Some(&deactivate))
                .await,
        )
        .await;
        assert_eq!(updated["is_active"], false);
        assert_eq!(
            app.get("/api/v1/users/me", Some(&tokens.access))
                .await
                .status(),
            401
        );
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);
        assert_problem(
            app.login(&victim.username, &victim.password).await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;

        let reactivate = json!({"is_active": true, "role": "admin"});
        app.send(Method::PATCH, &path, Some(&admin.access), Some(&reactivate))
            .await;
        let promoted = strata_tests::Tokens::from(
            &body(app.login(&victim.username, &victim.password).await).await,
        );
        assert_eq!(
            app.get("/api/v1/users", Some(&promoted.access))
                .await
                .status(),
            200
        );
        let demote = json!({"role": "user"});
        app.send(Method::PATCH, &path, Some(&admin.access), Some(&demote))
            .await;
        assert_eq!(
            app.get("/api/v1/users", Some(&promoted.access))
                .await
                .status(),
            401,
            "the admin token died with the role"
        );

        // The admin cannot demote, deactivate or delete themself.
        let admin_me = body(app.get("/api/v1/users/me", Some(&admin.access)).await).await;
        let self_path = format!("/api/v1/users/{}", admin_me["id"].as_str().unwrap());
        assert_problem(
            app.send(
                Method::PATCH,
                &self_path,
                Some(&admin.access),
                Some(&demote),
            )
            .await,
            409,
            "CONFLICT",
        )
        .await;
        assert_problem(
            app.send(
                Method::PATCH,
                &self_path,
                Some(&admin.access),
                Some(&deactivate),
            )
            .await,
            409,
            "CONFLICT",
        )
        .await;
        assert_problem(
            app.send(Method::DELETE, &self_path, Some(&admin.access), None)
                .await,
            409,
            "CONFLICT",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn deleting_a_user_deletes_everything_they_own() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        let bob = app.registered(&TestUser::generate()).await;
        let admin = app.admin().await;
        create_item(&app, &alice.access, "Alice's").await;
        let alices_post = body(
            app.post_json(
                "/api/v1/posts",
                &json!({"title": "A", "body": "a"}),
                Some(&alice.access),
            )
            .await,
        )
        .await;
        let bobs_post = body(
            app.post_json(
                "/api/v1/posts",
                &json!({"title": "B", "body": "b"}),
                Some(&bob.access),
            )
            .await,
        )
        .await;
        let bobs_comments = format!(
            "/api/v1/posts/{}/comments",
            bobs_post["id"].as_str().unwrap()
        );
        app.post_json(
            &bobs_comments,
            &json!({"body": "alice was here"}),
            Some(&alice.access),
        )
        .await;

        let me = body(app.get("/api/v1/users/me", Some(&alice.access)).await).await;
        let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
        assert_eq!(
            app.send(Method::DELETE, &path, Some(&admin.access), None)
                .await
                .status(),
            204
        );

        assert_eq!(
            app.get("/api/v1/users/me", Some(&alice.access))
                .await
                .status(),
            401
        );
        assert_eq!(
            body(app.get("/api/v1/items", Some(&admin.access)).await).await["total"],
            0
        );
        assert_problem(
            app.get(
                &format!("/api/v1/posts/{}", alices_post["id"].as_str().unwrap()),
                None,
            )
            .await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_eq!(body(app.get(&bobs_comments, None).await).await["total"], 0);
        assert_eq!(
            body(
                app.get(
                    &format!("/api/v1/posts/{}", bobs_post["id"].as_str().unwrap()),
                    None
                )
                .await
            )
            .await["comment_count"],
            0
        );
        assert_problem(app.get(&path, Some(&admin.access)).await, 404, "NOT_FOUND").await;
    })
    .await;
}

#[tokio::test]
async fn stats_and_the_export_reflect_the_accounts() {
    for_each_backend(|app| async move {
        let admin = app.admin().await;
        let mut tricky = TestUser::generate();
        tricky.username = format!("q{}", &tricky.username[5..]);
        let response = app.register(&tricky).await;
        assert_eq!(response.status(), 201);
        let tricky_tokens = strata_tests::Tokens::from(&body(response).await);
        let rename = json!({"full_name": "=cmd|' /C calc'!A0, \"quoted\""});
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&tricky_tokens.access),
            Some(&rename),
        )
        .await;

        let stats = body(app.get("/api/v1/users/stats", Some(&admin.access)).await).await;
        assert_eq!(stats["total"], 2);
        assert_eq!(stats["active"], 2);
        assert_eq!(stats["inactive"], 0);
        assert_eq!(stats["admins"], 1);
        let days = stats["signups_last_30_days"].as_array().unwrap();
        assert_eq!(days.len(), 30);
        assert_eq!(days[29]["count"], 2, "both signed up today: {days:?}");

        let csv = app
            .get("/api/v1/users/export?format=csv", Some(&admin.access))
            .await;
        assert_eq!(
            csv.headers()["content-disposition"],
            "attachment; filename=\"users.csv\""
        );
        let text = csv.text().await.unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(
            text.contains("\"'=cmd|' /C calc'!A0, \"\"quoted\"\"\""),
            "{text}"
        );

        let json_export: Value = app
            .get("/api/v1/users/export?format=json", Some(&admin.access))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(json_export.as_array().unwrap().len(), 2);
        assert_problem(
            app.get("/api/v1/users/export?format=xml", Some(&admin.access))
                .await,
            400,
            "MALFORMED_REQUEST",
        )
        .await;
    })
    .await;
}
