import Foundation
import Logging

/// Tells the other instances that the catalog changed, after a staff change commits, so they drop their caches
/// (`CatalogListener`): a `NOTIFY` on PostgreSQL; nothing on SQLite, where one instance owns the file.
struct CatalogAnnouncer: Sendable {
    let database: any Database
    let replica: ReplicaRouter?
    /// This instance, named in the signal so that it can skip its own (it dropped its cache at the write).
    let instance: UUID
    let logger: Logger

    func catalogChanged() async {
        guard database.engine == .postgres else { return }
        await CatalogListener.notify(database, replica: replica, from: instance, logger: logger)
    }
}
