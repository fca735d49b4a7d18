//! Watches that decode objects without managedFields ([`flotilla_api::lean`]).

use flotilla_api::lean::Lean;
use kube::runtime::watcher::Event;

/// A watch event of a [`Lean`] object, with the object as the watcher's caller keeps it.
pub fn unlean<K>(event: Event<Lean<K>>) -> Event<K> {
    match event {
        Event::Apply(Lean(k)) => Event::Apply(k),
        Event::Delete(Lean(k)) => Event::Delete(k),
        Event::Init => Event::Init,
        Event::InitApply(Lean(k)) => Event::InitApply(k),
        Event::InitDone => Event::InitDone,
    }
}
