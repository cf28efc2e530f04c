import Foundation

extension Migrations {
    /// Migrations 9 onwards: worker queues, the catalog at a million products, the back office.
    static let later: [Migration] = [
        // The worker's queues indexed by what is still to do: an event leaves `outbox_pending` when dispatched and a
        // delivery leaves `webhook_deliveries_due`/`_pending` when delivered or dead, instead of moving to another key
        // there. Every order's event and delivery then costs fewer index writes, which on SQLite share the one writer
        // with the orders. Queries name the literal `status = 'pending'`, so SQLite can prove the partial index applies.
        Migration(
            version: 9, name: "worker queues as partial indexes",
            statements: [
                "DROP INDEX outbox_pending",
                "CREATE INDEX outbox_pending ON outbox (seq) WHERE dispatched_at IS NULL",
                "DROP INDEX webhook_deliveries_due",
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending'",
                "DROP INDEX webhook_deliveries_pending",
                "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (created_at) WHERE status = 'pending'",
            ]),
        // A search in name order (`CatalogStore.pageRows`) walks live products by name and matches `search_text`
        // inside this index, touching the table only for the page's rows. Catalog columns only: a stock `UPDATE` changes
        // no indexed column, so it stays a HOT update that writes no index entry. SQLite searches through FTS5 instead.
        Migration(
            version: 10, name: "live products by name with their search text",
            statements: [],
            postgres: [
                """
                CREATE INDEX products_live_name ON products (name, id) INCLUDE (search_text, category, price_minor)
                WHERE archived_at IS NULL
                """
            ]),
        // Every list query reads live products only, so `products_live_name` serves each name-order page that
        // `products_name` did. With both, a search in name order was a coin toss: the plans cost the same within the
        // planner's fuzz (the in-stock subquery is costed on every row), and walking `products_name` fetches each row
        // from the table to test the search (docs/decisions/016).
        Migration(
            version: 11, name: "one name index for live products",
            statements: [],
            postgres: ["DROP INDEX products_name"]),
        // The back office: staff sign-in sessions (Identity's; the id is stored hashed, so a copy of the table signs no
        // one in), the stock after each adjustment for a product's history, and indexes for the history and for the
        // order desk's product filter (keyed by order, so a product's orders are found without reading their lines).
        Migration(
            version: 12, name: "back office",
            statements: [
                """
                CREATE TABLE staff_sessions (
                    id_hash TEXT PRIMARY KEY,
                    customer_id {uuid} NOT NULL REFERENCES customers(id),
                    csrf TEXT NOT NULL,
                    flash TEXT,
                    created_at {time} NOT NULL,
                    seen_at {time} NOT NULL
                )
                """,
                "CREATE INDEX staff_sessions_customer ON staff_sessions (customer_id)",
                "CREATE INDEX staff_sessions_seen ON staff_sessions (seen_at)",
                "CREATE INDEX staff_sessions_created ON staff_sessions (created_at)",
                "ALTER TABLE inventory_adjustments ADD COLUMN on_hand_after {int}",
                "CREATE INDEX inventory_adjustments_history ON inventory_adjustments (product_id, created_at, id)",
                "DROP INDEX inventory_adjustments_product",
                "CREATE INDEX order_items_product_order ON order_items (product_id, order_id)",
                "DROP INDEX order_items_product",
            ]),
        // A 5,000-character description made `products_live_name`'s row larger than a B-tree row may be (about 2,700
        // bytes on PostgreSQL): the product could not be saved. The index carries `search_short` instead, the search
        // text when it is at most 1,800 bytes (`Product.searchShort`), and the walk looks a longer one up by id.
        Migration(
            version: 13, name: "search text that fits an index row",
            statements: [
                "ALTER TABLE products ADD COLUMN search_short TEXT",
                "UPDATE products SET search_short = search_text WHERE length(CAST(search_text AS BLOB)) <= 1800",
            ],
            postgres: [
                "ALTER TABLE products ADD COLUMN search_short TEXT",
                "UPDATE products SET search_short = search_text WHERE octet_length(search_text) <= 1800",
                "DROP INDEX products_live_name",
                """
                CREATE INDEX products_live_name ON products (name, id) INCLUDE (search_short, category, price_minor)
                WHERE archived_at IS NULL
                """,
            ]),
        // When a cart line's reservation began: it lasts `CART_MAX_HOLD` from then at most (`CartStore.touch`). Lines
        // from before have none and keep the old rule until they are next re-reserved.
        Migration(version: 14, name: "cart reservations held since", statements: ["ALTER TABLE cart_lines ADD COLUMN held_since {time}"]),
        // Back office, part 2: the staff audit trail (the Audit area's; its id is time-ordered, so newest first is the
        // primary key read backwards), the order totals in the created-at index so the dashboard's day figures read
        // the index alone, and dead deliveries (rare) counted on a small partial index.
        Migration(
            version: 15, name: "staff audit trail and dashboard",
            statements: staffActions + ["CREATE INDEX orders_created ON orders (created_at, id, status, total_minor)"],
            postgres: staffActions + ["CREATE INDEX orders_created ON orders (created_at, id) INCLUDE (status, total_minor)"]),
    ]

    /// Migration 15's statements that both engines share.
    static let staffActions = [
        """
        CREATE TABLE staff_actions (
            id {uuid} PRIMARY KEY,
            at {time} NOT NULL,
            staff_id {uuid} NOT NULL REFERENCES customers(id),
            staff_username TEXT NOT NULL,
            kind TEXT NOT NULL,
            record_type TEXT NOT NULL,
            record_id TEXT NOT NULL,
            summary TEXT NOT NULL
        )
        """,
        "CREATE INDEX staff_actions_staff ON staff_actions (staff_id, id)",
        "CREATE INDEX staff_actions_kind ON staff_actions (kind, id)",
        "CREATE INDEX staff_actions_record ON staff_actions (record_id, id)",
        "CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (endpoint_id) WHERE status = 'dead'",
        "DROP INDEX orders_created",
    ]
}
