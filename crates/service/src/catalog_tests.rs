use super::*;
use crate::test_support::caller;
use strata_domain::catalog::MockCatalogRepository;
use strata_domain::users::Role;

fn category(id: Uuid, parent_id: Option<Uuid>) -> Category {
    let now = Utc::now();
    Category {
        id,
        name: Title::parse("Kitchen").unwrap(),
        slug: Slug::parse("kitchen").unwrap(),
        parent_id,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn product(is_active: bool) -> Product {
    let now = Utc::now();
    Product {
        id: Uuid::now_v7(),
        name: Title::parse("Mug").unwrap(),
        slug: Slug::parse("mug").unwrap(),
        description: None,
        price: Price::parse(500).unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        stock_quantity: StockQuantity::parse(3).unwrap(),
        category_id: Uuid::now_v7(),
        is_active,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn draft(name: &str, slug: Option<&str>) -> ProductDraft {
    ProductDraft {
        name: Title::parse(name).unwrap(),
        slug: slug.map(|s| Slug::parse(s).unwrap()),
        description: None,
        price: Price::parse(500).unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        stock_quantity: StockQuantity::parse(3).unwrap(),
        category_id: Uuid::now_v7(),
        is_active: true,
    }
}

#[tokio::test]
async fn only_admins_write_and_nothing_reaches_the_repository_otherwise() {
    let user = caller(Role::User);
    let mut repo = MockCatalogRepository::new();
    repo.expect_create_product().never();
    repo.expect_update_product().never();
    repo.expect_delete_category().never();
    let s = CatalogServiceImpl::new(Arc::new(repo));
    assert!(matches!(
        s.create_product(&user, draft("Mug", None)).await,
        Err(ServiceError::Forbidden)
    ));
    let id = Uuid::now_v7();
    let changes = ProductChanges::default();
    assert!(matches!(
        s.update_product(&user, id, changes, Some(1)).await,
        Err(ServiceError::Forbidden)
    ));
    assert!(matches!(
        s.delete_category(&user, id, None).await,
        Err(ServiceError::Forbidden)
    ));
}

#[tokio::test]
async fn admin_writes_require_if_match() {
    let admin = caller(Role::Admin);
    let mut repo = MockCatalogRepository::new();
    repo.expect_update_product().never();
    repo.expect_delete_product()
        .withf(|_, v| *v == 4)
        .times(1)
        .returning(|_, _| Ok(()));
    let s = CatalogServiceImpl::new(Arc::new(repo));
    let id = Uuid::now_v7();
    assert!(matches!(
        s.update_product(&admin, id, ProductChanges::default(), None)
            .await,
        Err(ServiceError::PreconditionRequired)
    ));
    assert!(matches!(
        s.delete_product(&admin, id, None).await,
        Err(ServiceError::PreconditionRequired)
    ));
    s.delete_product(&admin, id, Some(4)).await.unwrap();
}

#[tokio::test]
async fn a_slug_is_derived_from_the_name_when_none_is_sent() {
    let admin = caller(Role::Admin);
    let mut repo = MockCatalogRepository::new();
    repo.expect_find_category()
        .returning(|id| Ok(category(id, None)));
    repo.expect_create_product()
        .withf(|p| p.slug.as_str() == "creme-brulee")
        .times(1)
        .returning(|p| {
            let mut made = product(true);
            made.slug = p.slug;
            Ok(made)
        });
    let s = CatalogServiceImpl::new(Arc::new(repo));
    let made = s
        .create_product(&admin, draft("Crème Brûlée", None))
        .await
        .unwrap();
    assert_eq!(made.slug.as_str(), "creme-brulee");
    // A name that yields no slug needs one sent.
    let refused = s.create_product(&admin, draft("!!!", None)).await;
    assert!(
        matches!(&refused, Err(ServiceError::Validation(e)) if e.0[0].field == "slug"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_unknown_category_is_a_validation_error_not_a_404() {
    let admin = caller(Role::Admin);
    let mut repo = MockCatalogRepository::new();
    repo.expect_find_category()
        .returning(|_| Err(RepoError::NotFound));
    repo.expect_create_product().never();
    let s = CatalogServiceImpl::new(Arc::new(repo));
    let refused = s.create_product(&admin, draft("Mug", Some("mug"))).await;
    assert!(
        matches!(&refused, Err(ServiceError::Validation(e)) if e.0[0].field == "category_id"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn inactive_products_are_found_by_admins_only() {
    let mut repo = MockCatalogRepository::new();
    repo.expect_find_product().returning(|_| Ok(product(false)));
    repo.expect_list_products()
        .withf(|f, _, _| !f.is_active)
        .times(1)
        .returning(|_, _, page| Ok(Page::new(vec![], 0, page)));
    let s = CatalogServiceImpl::new(Arc::new(repo));
    let key = ProductKey::Slug(Slug::parse("mug").unwrap());
    for anyone in [None, Some(caller(Role::User))] {
        assert!(matches!(
            s.get_product(anyone, key.clone()).await,
            Err(ServiceError::NotFound)
        ));
        let inactive = ProductFilter {
            is_active: false,
            ..ProductFilter::default()
        };
        assert!(matches!(
            s.list_products(anyone, inactive, Sort::default(), PageRequest::default())
                .await,
            Err(ServiceError::Forbidden)
        ));
    }
    let admin = Some(caller(Role::Admin));
    assert!(!s.get_product(admin, key).await.unwrap().is_active);
    let inactive = ProductFilter {
        is_active: false,
        ..ProductFilter::default()
    };
    s.list_products(admin, inactive, Sort::default(), PageRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_category_cannot_be_put_under_itself_or_its_descendants() {
    let admin = caller(Role::Admin);
    let (root, child, grandchild) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut repo = MockCatalogRepository::new();
    repo.expect_find_category().returning(move |id| {
        let parent = if id == grandchild {
            Some(child)
        } else if id == child {
            Some(root)
        } else {
            None
        };
        Ok(category(id, parent))
    });
    repo.expect_update_category().never();
    let s = CatalogServiceImpl::new(Arc::new(repo));
    for parent in [root, grandchild] {
        let changes = CategoryChanges {
            parent_id: Some(Some(parent)),
            ..CategoryChanges::default()
        };
        let refused = s.update_category(&admin, root, changes, Some(1)).await;
        assert!(
            matches!(&refused, Err(ServiceError::Validation(e)) if e.0[0].code == "cycle"),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn a_category_in_use_is_a_conflict() {
    let admin = caller(Role::Admin);
    let mut repo = MockCatalogRepository::new();
    repo.expect_delete_category()
        .returning(|_, _| Err(RepoError::InUse));
    repo.expect_delete_product()
        .returning(|_, _| Err(RepoError::VersionMismatch));
    let s = CatalogServiceImpl::new(Arc::new(repo));
    let id = Uuid::now_v7();
    assert!(matches!(
        s.delete_category(&admin, id, Some(1)).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        s.delete_product(&admin, id, Some(1)).await,
        Err(ServiceError::PreconditionFailed)
    ));
}
