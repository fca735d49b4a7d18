use super::*;
use crate::storage::MemoryStore;

fn tokens() -> JoinTokens {
    JoinTokens::new(Arc::new(MemoryStore::new()), "/registry")
}

#[tokio::test]
async fn the_secret_is_generated_once_and_shared() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (a, b) = (
        JoinTokens::new(store.clone(), "/registry"),
        JoinTokens::new(store, "/registry"),
    );
    let first = a.current().await.unwrap();
    assert!(is_valid_secret(&first), "{first}");
    assert_eq!(first.len(), SECRET_LEN);
    assert_eq!(b.current().await.unwrap(), first, "another replica sees it");
    assert_eq!(b.check(&first).await.unwrap(), SecretCheck::Valid);
}

#[tokio::test]
async fn rotation_retires_the_old_secret() {
    let t = tokens();
    let old = t.current().await.unwrap();
    let new = t.rotate().await.unwrap();
    assert_ne!(old, new);
    assert_eq!(t.check(&old).await.unwrap(), SecretCheck::Rotated);
    assert_eq!(t.check(&new).await.unwrap(), SecretCheck::Valid);
    assert_eq!(
        t.check("neverissued00000000").await.unwrap(),
        SecretCheck::Wrong
    );
}

#[tokio::test]
async fn a_token_file_is_adopted_unless_it_was_rotated_away() {
    let t = tokens();
    let file = "chartsecret0000000000000000000000";
    assert_eq!(t.adopt(file).await.unwrap(), Adopted::Installed);
    assert_eq!(t.adopt(file).await.unwrap(), Adopted::AlreadyCurrent);
    assert_eq!(t.current().await.unwrap(), file);
    t.rotate().await.unwrap();
    assert_eq!(
        t.adopt(file).await.unwrap(),
        Adopted::Rotated,
        "a restart with the old file must not undo the rotation"
    );
    assert_eq!(t.check(file).await.unwrap(), SecretCheck::Rotated);
    let replaced = "newchartsecret000000000000000000";
    assert_eq!(t.adopt(replaced).await.unwrap(), Adopted::Installed);
    assert_eq!(t.check(replaced).await.unwrap(), SecretCheck::Valid);
}

#[tokio::test]
async fn claims_are_first_come() {
    let t = tokens();
    let now = OffsetDateTime::now_utc();
    assert_eq!(t.claim("n1", now, |_| None).await.unwrap(), Ok(()));
    let mut seen = None;
    let second = t
        .claim("n1", now, |at| {
            seen = at;
            at.map(|_| "claimed".to_string())
        })
        .await
        .unwrap();
    assert_eq!(second, Err("claimed".into()));
    assert_eq!(seen.unwrap().unix_timestamp(), now.unix_timestamp());
    assert_eq!(t.claim("n2", now, |_| None).await.unwrap(), Ok(()));
}
