//! The catalog adapter on every backend: slugs, compare-and-set writes,
//! deletes refused while in use, filtered lists and the catalog version.

use strata_domain::RepoError;
use strata_domain::UniqueField;
use strata_domain::catalog::{
    CatalogRepository, Category, CategoryChanges, Currency, NewCategory, NewProduct, Price,
    Product, ProductChanges, ProductFilter, ProductKey, ProductSortField, Slug, StockQuantity,
};
use strata_domain::items::Title;
use strata_domain::page::{Direction, Sort};
use strata_repository::{DatabaseConnection, SeaCatalogRepository};
use uuid::Uuid;

use crate::common::{now, page, test_databases};

pub async fn category(repo: &SeaCatalogRepository, name: &str) -> Category {
    repo.create_category(NewCategory {
        id: Uuid::now_v7(),
        name: Title::parse(name).unwrap(),
        slug: Slug::derive(name).unwrap(),
        parent_id: None,
        created_at: now(),
    })
    .await
    .unwrap()
}

pub fn new_product(category_id: Uuid, name: &str, price: i64, stock: i64) -> NewProduct {
    NewProduct {
        id: Uuid::now_v7(),
        name: Title::parse(name).unwrap(),
        slug: Slug::derive(name).unwrap(),
        description: None,
        price: Price::parse(price).unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        stock_quantity: StockQuantity::parse(stock).unwrap(),
        category_id,
        is_active: true,
        created_at: now(),
    }
}

pub async fn product(
    repo: &SeaCatalogRepository,
    category_id: Uuid,
    name: &str,
    price: i64,
    stock: i64,
) -> Product {
    repo.create_product(new_product(category_id, name, price, stock))
        .await
        .unwrap()
}

pub fn repo(db: &DatabaseConnection) -> SeaCatalogRepository {
    SeaCatalogRepository::new(db.clone())
}

#[tokio::test]
async fn every_catalog_write_bumps_the_version_and_reads_do_not() {
    for db in test_databases().await {
        let repo = repo(&db.conn);
        let start = repo.version().await.unwrap();
        let kitchen = category(&repo, "Kitchen").await;
        let mug = product(&repo, kitchen.id, "Mug", 500, 3).await;
        assert_eq!(repo.version().await.unwrap(), start + 2, "{}", db.backend);
        repo.find_product(ProductKey::Id(mug.id)).await.unwrap();
        repo.list_products(ProductFilter::default(), Sort::default(), page(10, 0))
            .await
            .unwrap();
        assert_eq!(repo.version().await.unwrap(), start + 2);
        let changes = ProductChanges {
            price: Some(Price::parse(650).unwrap()),
            ..ProductChanges::default()
        };
        let updated = repo
            .update_product(mug.id, changes, 1, now())
            .await
            .unwrap();
        assert_eq!((updated.version, updated.price.minor_units()), (2, 650));
        assert_eq!(repo.version().await.unwrap(), start + 3);
        // A failed write (stale version) bumps nothing.
        let stale = repo
            .update_product(mug.id, ProductChanges::default(), 1, now())
            .await;
        assert!(
            matches!(stale, Err(RepoError::VersionMismatch)),
            "{stale:?}"
        );
        let renamed = CategoryChanges {
            name: Some(Title::parse("Cooking").unwrap()),
            ..CategoryChanges::default()
        };
        repo.update_category(kitchen.id, renamed, 1, now())
            .await
            .unwrap();
        assert_eq!(repo.version().await.unwrap(), start + 4);
        repo.delete_product(mug.id, 2).await.unwrap();
        repo.delete_category(kitchen.id, 2).await.unwrap();
        assert_eq!(repo.version().await.unwrap(), start + 6, "{}", db.backend);
    }
}

#[tokio::test]
async fn slugs_are_unique_and_deletes_wait_until_nothing_refers() {
    for db in test_databases().await {
        let backend = db.backend;
        let repo = repo(&db.conn);
        let kitchen = category(&repo, "Kitchen").await;
        let mug = product(&repo, kitchen.id, "Mug", 500, 3).await;
        let again = repo
            .create_product(new_product(kitchen.id, "Mug", 1, 1))
            .await;
        assert!(
            matches!(again, Err(RepoError::Conflict(UniqueField::Slug))),
            "{backend}: {again:?}"
        );
        let twin = repo
            .create_category(NewCategory {
                id: Uuid::now_v7(),
                name: Title::parse("Kitchen").unwrap(),
                slug: Slug::parse("kitchen").unwrap(),
                parent_id: None,
                created_at: now(),
            })
            .await;
        assert!(matches!(twin, Err(RepoError::Conflict(UniqueField::Slug))));
        let orphan = repo
            .create_product(new_product(Uuid::now_v7(), "Orphan", 1, 1))
            .await;
        assert!(matches!(orphan, Err(RepoError::NotFound)), "{orphan:?}");

        let in_use = repo.delete_category(kitchen.id, 1).await;
        assert!(
            matches!(in_use, Err(RepoError::InUse)),
            "{backend}: {in_use:?}"
        );
        let stale = repo.delete_category(kitchen.id, 9).await;
        assert!(matches!(stale, Err(RepoError::VersionMismatch)));
        let child = repo
            .create_category(NewCategory {
                id: Uuid::now_v7(),
                name: Title::parse("Cups").unwrap(),
                slug: Slug::parse("cups").unwrap(),
                parent_id: Some(kitchen.id),
                created_at: now(),
            })
            .await
            .unwrap();
        repo.delete_product(mug.id, 1).await.unwrap();
        // Still a parent.
        assert!(matches!(
            repo.delete_category(kitchen.id, 1).await,
            Err(RepoError::InUse)
        ));
        repo.delete_category(child.id, 1).await.unwrap();
        repo.delete_category(kitchen.id, 1).await.unwrap();
        assert!(matches!(
            repo.delete_category(kitchen.id, 1).await,
            Err(RepoError::NotFound)
        ));
        assert!(matches!(
            repo.find_product(ProductKey::Slug(Slug::parse("mug").unwrap()))
                .await,
            Err(RepoError::NotFound)
        ));
    }
}

#[tokio::test]
async fn products_are_filtered_sorted_and_counted() {
    for db in test_databases().await {
        let backend = db.backend;
        let repo = repo(&db.conn);
        let kitchen = category(&repo, "Kitchen").await;
        let garden = category(&repo, "Garden").await;
        product(&repo, kitchen.id, "Mug", 500, 3).await;
        product(&repo, kitchen.id, "Pot", 300, 0).await;
        product(&repo, garden.id, "Rake", 2000, 1).await;
        let mut hidden = new_product(garden.id, "Hidden", 1, 1);
        hidden.is_active = false;
        repo.create_product(hidden).await.unwrap();

        let names = |products: &[Product]| -> Vec<String> {
            products
                .iter()
                .map(|p| p.name.as_str().to_owned())
                .collect()
        };
        let by = |field, direction| Sort { field, direction };
        let all = repo
            .list_products(
                ProductFilter::default(),
                by(ProductSortField::Price, Direction::Asc),
                page(10, 0),
            )
            .await
            .unwrap();
        assert_eq!(names(&all.items), ["Pot", "Mug", "Rake"], "{backend}");
        assert_eq!(all.total, 3);
        let filter = ProductFilter {
            category_id: Some(kitchen.id),
            in_stock: Some(true),
            ..ProductFilter::default()
        };
        let listed = repo
            .list_products(
                filter,
                by(ProductSortField::Name, Direction::Desc),
                page(10, 0),
            )
            .await
            .unwrap();
        assert_eq!(names(&listed.items), ["Mug"]);
        let filter = ProductFilter {
            min_price: Some(Price::parse(300).unwrap()),
            max_price: Some(Price::parse(500).unwrap()),
            q: Some("o".into()),
            ..ProductFilter::default()
        };
        let listed = repo
            .list_products(
                filter,
                by(ProductSortField::CreatedAt, Direction::Desc),
                page(10, 0),
            )
            .await
            .unwrap();
        assert_eq!(names(&listed.items), ["Pot"]);
        let inactive = ProductFilter {
            is_active: false,
            ..ProductFilter::default()
        };
        let listed = repo
            .list_products(inactive, Sort::default(), page(10, 0))
            .await
            .unwrap();
        assert_eq!(names(&listed.items), ["Hidden"]);
        // A full page counts the rest.
        let first = repo
            .list_products(
                ProductFilter::default(),
                by(ProductSortField::Name, Direction::Asc),
                page(2, 0),
            )
            .await
            .unwrap();
        assert_eq!(
            (names(&first.items), first.total),
            (vec!["Mug".into(), "Pot".into()], 3)
        );

        let categories = repo.list_categories(page(1, 0)).await.unwrap();
        assert_eq!(categories.total, 2);
        assert_eq!(categories.items[0].name.as_str(), "Garden");
    }
}
