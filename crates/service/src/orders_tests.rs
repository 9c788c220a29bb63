use super::*;
use crate::test_support::caller;
use strata_domain::catalog::{Currency, Price};
use strata_domain::orders::{MockOrderRepository, OrderItem};
use strata_domain::users::Role;

fn order(user_id: Uuid, status: OrderStatus) -> Order {
    let now = Utc::now();
    Order {
        id: Uuid::now_v7(),
        user_id,
        status,
        currency: Currency::parse("EUR").unwrap(),
        total: 500,
        items: vec![OrderItem {
            product_id: Uuid::now_v7(),
            product_name: "Mug".into(),
            unit_price: Price::parse(250).unwrap(),
            quantity: 2,
            line_total: 500,
        }],
        created_at: now,
        updated_at: now,
    }
}

fn lines() -> OrderLines {
    OrderLines::parse(&[(Uuid::now_v7(), 2)]).unwrap()
}

#[tokio::test]
async fn orders_are_placed_for_the_caller() {
    let me = caller(Role::User);
    let mut repo = MockOrderRepository::new();
    repo.expect_place_keyed()
        .withf(move |new, once| new.user_id == me.user_id && once.is_none())
        .times(1)
        .returning(|new, _| Ok(order(new.user_id, OrderStatus::Pending)));
    let s = OrderServiceImpl::new(Arc::new(repo));
    assert_eq!(
        s.place(&me, lines(), None).await.unwrap().user_id,
        me.user_id
    );
}

#[tokio::test]
async fn placement_failures_map_to_out_of_stock_or_named_fields() {
    let me = caller(Role::User);
    let product_id = Uuid::now_v7();
    let mut repo = MockOrderRepository::new();
    let mut answers = vec![
        PlaceOrderError::OutOfStock {
            product_id,
            position: 0,
        },
        PlaceOrderError::Unavailable {
            product_id,
            position: 3,
        },
        PlaceOrderError::Pricing(PricingError::MixedCurrencies),
        PlaceOrderError::Pricing(PricingError::Overflow),
    ]
    .into_iter();
    repo.expect_place_keyed()
        .times(4)
        .returning(move |_, _| Err(answers.next().unwrap()));
    let s = OrderServiceImpl::new(Arc::new(repo));
    assert!(matches!(
        s.place(&me, lines(), None).await,
        Err(ServiceError::OutOfStock { product_id: p }) if p == product_id
    ));
    for (field, code) in [
        ("items[3].product_id", "unavailable"),
        ("items", "currency"),
        ("items", "range"),
    ] {
        let refused = s.place(&me, lines(), None).await;
        assert!(
            matches!(&refused, Err(ServiceError::Validation(e)) if e.0[0].field == field && e.0[0].code == code),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn another_users_order_is_not_found_for_every_operation() {
    let stranger = caller(Role::User);
    let theirs = order(Uuid::now_v7(), OrderStatus::Pending);
    let id = theirs.id;
    let mut repo = MockOrderRepository::new();
    repo.expect_find().returning(move |_| Ok(theirs.clone()));
    repo.expect_set_status().never();
    let s = OrderServiceImpl::new(Arc::new(repo));
    assert!(matches!(
        s.get(&stranger, id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        s.cancel(&stranger, id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        s.set_status(&stranger, id, OrderStatus::Paid).await,
        Err(ServiceError::Forbidden)
    ));
}

#[tokio::test]
async fn owners_and_admins_cancel_from_pending_or_paid_only() {
    for (status, allowed) in [
        (OrderStatus::Pending, true),
        (OrderStatus::Paid, true),
        (OrderStatus::Shipped, false),
        (OrderStatus::Delivered, false),
        (OrderStatus::Cancelled, false),
    ] {
        for role in [Role::User, Role::Admin] {
            let me = caller(role);
            let owner = if role == Role::Admin {
                Uuid::now_v7()
            } else {
                me.user_id
            };
            let current = order(owner, status);
            let id = current.id;
            let mut repo = MockOrderRepository::new();
            repo.expect_find().returning(move |_| Ok(current.clone()));
            repo.expect_set_status()
                .withf(move |_, from, to, _| *from == status && *to == OrderStatus::Cancelled)
                .times(usize::from(allowed))
                .returning(move |_, _, to, _| Ok(order(owner, to)));
            let s = OrderServiceImpl::new(Arc::new(repo));
            let result = s.cancel(&me, id).await;
            if allowed {
                assert_eq!(result.unwrap().status, OrderStatus::Cancelled);
            } else {
                assert!(
                    matches!(result, Err(ServiceError::InvalidTransition { .. })),
                    "{status:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_status_that_moved_on_meanwhile_is_an_invalid_transition() {
    let me = caller(Role::User);
    let mine = order(me.user_id, OrderStatus::Pending);
    let id = mine.id;
    let mut repo = MockOrderRepository::new();
    repo.expect_find().returning(move |_| Ok(mine.clone()));
    repo.expect_set_status()
        .returning(|_, _, _, _| Err(RepoError::VersionMismatch));
    let s = OrderServiceImpl::new(Arc::new(repo));
    assert!(matches!(
        s.cancel(&me, id).await,
        Err(ServiceError::InvalidTransition {
            from: "pending",
            to: "cancelled"
        })
    ));
}

#[tokio::test]
async fn plain_users_list_their_own_orders_and_admins_anyones() {
    let me = caller(Role::User);
    let admin = caller(Role::Admin);
    let other = Uuid::now_v7();
    let mut repo = MockOrderRepository::new();
    repo.expect_list()
        .withf(move |f, _| f.user_id == Some(me.user_id))
        .times(1)
        .returning(|_, page| Ok(Page::new(vec![], 0, page)));
    repo.expect_list()
        .withf(move |f, _| f.user_id == Some(other) && f.status == Some(OrderStatus::Paid))
        .times(1)
        .returning(|_, page| Ok(Page::new(vec![], 0, page)));
    repo.expect_list()
        .withf(|f, _| f.user_id.is_none())
        .times(1)
        .returning(|_, page| Ok(Page::new(vec![], 0, page)));
    let s = OrderServiceImpl::new(Arc::new(repo));
    let page = PageRequest::default();
    s.list(&me, None, None, page).await.unwrap();
    assert!(matches!(
        s.list(&me, Some(other), None, page).await,
        Err(ServiceError::Forbidden)
    ));
    s.list(&admin, Some(other), Some(OrderStatus::Paid), page)
        .await
        .unwrap();
    s.list(&admin, None, None, page).await.unwrap();
}

#[tokio::test]
async fn statistics_are_for_admins_over_thirty_days() {
    let mut repo = MockOrderRepository::new();
    repo.expect_stats()
        .withf(|since, top| {
            let days = (Utc::now() - *since).num_days();
            (29..=30).contains(&days) && *top == TOP_PRODUCTS
        })
        .times(1)
        .returning(|_, _| {
            Ok(OrderStats {
                days: vec![],
                top_products: vec![],
            })
        });
    let s = OrderServiceImpl::new(Arc::new(repo));
    assert!(matches!(
        s.stats(&caller(Role::User)).await,
        Err(ServiceError::Forbidden)
    ));
    s.stats(&caller(Role::Admin)).await.unwrap();
}
