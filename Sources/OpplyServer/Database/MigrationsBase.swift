import Foundation

extension Migrations {
    /// Migrations 1 to 8: the shop's tables, and the catalog's search and versions.
    static let base: [Migration] = [
        Migration(
            version: 1, name: "identity",
            statements: [
                """
                CREATE TABLE customers (
                    id {uuid} PRIMARY KEY,
                    username TEXT NOT NULL,
                    username_key TEXT NOT NULL UNIQUE,
                    email TEXT NOT NULL,
                    email_key TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    first_name TEXT NOT NULL,
                    last_name TEXT NOT NULL,
                    is_staff {bool} NOT NULL,
                    date_joined {time} NOT NULL,
                    deleted_at {time}
                )
                """,
                """
                CREATE TABLE refresh_tokens (
                    id {uuid} PRIMARY KEY,
                    family {uuid} NOT NULL,
                    customer_id {uuid} NOT NULL REFERENCES customers(id),
                    expires_at {time} NOT NULL,
                    spent_at {time},
                    revoked_at {time}
                )
                """,
                "CREATE INDEX refresh_tokens_family ON refresh_tokens (family)",
                "CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at)",
            ]),
        Migration(
            version: 2, name: "catalog",
            statements: [
                "CREATE TABLE categories (slug TEXT PRIMARY KEY, name TEXT NOT NULL)",
                """
                CREATE TABLE products (
                    id {uuid} PRIMARY KEY,
                    name TEXT NOT NULL,
                    description TEXT NOT NULL,
                    search_text TEXT NOT NULL,
                    price_minor {int} NOT NULL CHECK (price_minor >= 0),
                    category TEXT REFERENCES categories(slug),
                    on_hand {int} NOT NULL,
                    reserved {int} NOT NULL,
                    created_at {time} NOT NULL,
                    updated_at {time} NOT NULL,
                    archived_at {time},
                    CHECK (reserved >= 0 AND reserved <= on_hand)
                )
                """,
                "CREATE INDEX products_name ON products (name, id)",
                "CREATE INDEX products_price ON products (price_minor, id)",
                "CREATE INDEX products_created ON products (created_at, id)",
                "CREATE INDEX products_category_name ON products (category, name, id)",
                "CREATE INDEX products_category_price ON products (category, price_minor, id)",
                """
                CREATE TABLE inventory_adjustments (
                    id {uuid} PRIMARY KEY,
                    product_id {uuid} NOT NULL REFERENCES products(id),
                    customer_id {uuid} REFERENCES customers(id),
                    delta {int} NOT NULL,
                    reason TEXT NOT NULL,
                    created_at {time} NOT NULL
                )
                """,
                "CREATE INDEX inventory_adjustments_product ON inventory_adjustments (product_id)",
            ]),
        Migration(
            version: 3, name: "orders",
            statements: [
                """
                CREATE TABLE orders (
                    id {uuid} PRIMARY KEY,
                    customer_id {uuid} NOT NULL REFERENCES customers(id),
                    status TEXT NOT NULL,
                    total_minor {int} NOT NULL,
                    created_at {time} NOT NULL,
                    updated_at {time} NOT NULL
                )
                """,
                "CREATE INDEX orders_customer ON orders (customer_id, created_at, id)",
                """
                CREATE TABLE order_items (
                    order_id {uuid} NOT NULL REFERENCES orders(id),
                    product_id {uuid} NOT NULL REFERENCES products(id),
                    name TEXT NOT NULL,
                    unit_price_minor {int} NOT NULL,
                    quantity {int} NOT NULL CHECK (quantity > 0),
                    PRIMARY KEY (order_id, product_id)
                )
                """,
                "CREATE INDEX order_items_product ON order_items (product_id)",
                """
                CREATE TABLE idempotency_keys (
                    customer_id {uuid} NOT NULL,
                    idem_key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    state TEXT NOT NULL,
                    status_code INTEGER,
                    response_body TEXT,
                    created_at {time} NOT NULL,
                    expires_at {time} NOT NULL,
                    PRIMARY KEY (customer_id, idem_key)
                )
                """,
                "CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at)",
                """
                CREATE TABLE outbox (
                    seq {serial},
                    id {uuid} NOT NULL UNIQUE,
                    topic TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_at {time} NOT NULL,
                    dispatched_at {time},
                    attempts INTEGER NOT NULL
                )
                """,
                "CREATE INDEX outbox_pending ON outbox (dispatched_at, seq)",
            ]),
        Migration(
            version: 4, name: "cart",
            statements: [
                """
                CREATE TABLE cart_lines (
                    customer_id {uuid} NOT NULL REFERENCES customers(id),
                    product_id {uuid} NOT NULL REFERENCES products(id),
                    quantity {int} NOT NULL CHECK (quantity > 0),
                    held {bool} NOT NULL,
                    reserved_until {time} NOT NULL,
                    PRIMARY KEY (customer_id, product_id)
                )
                """,
                "CREATE INDEX cart_lines_expiry ON cart_lines (held, reserved_until)",
                "CREATE INDEX cart_lines_product ON cart_lines (product_id)",
            ]),
        Migration(
            version: 5, name: "idempotency claim tokens",
            statements: [
                "ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT"
            ]),
        Migration(
            version: 6, name: "fulfilment",
            statements: [
                "ALTER TABLE orders ADD COLUMN fulfilled_at {time}",
                "ALTER TABLE orders ADD COLUMN fulfilment_note TEXT",
                "ALTER TABLE orders ADD COLUMN cancel_reason TEXT",
                "CREATE INDEX orders_created ON orders (created_at, id)",
                "CREATE INDEX orders_status ON orders (status, created_at, id)",
                """
                CREATE TABLE webhook_endpoints (
                    id {uuid} PRIMARY KEY,
                    url TEXT NOT NULL,
                    events TEXT NOT NULL,
                    description TEXT NOT NULL,
                    secret TEXT NOT NULL,
                    previous_secret TEXT,
                    previous_secret_until {time},
                    enabled {bool} NOT NULL,
                    disabled_reason TEXT,
                    created_at {time} NOT NULL,
                    updated_at {time} NOT NULL
                )
                """,
                """
                CREATE TABLE webhook_deliveries (
                    id {uuid} PRIMARY KEY,
                    endpoint_id {uuid} NOT NULL REFERENCES webhook_endpoints(id),
                    event_id {uuid} NOT NULL,
                    event_type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    last_status_code INTEGER,
                    last_error TEXT,
                    next_attempt_at {time} NOT NULL,
                    delivered_at {time},
                    created_at {time} NOT NULL,
                    UNIQUE (endpoint_id, event_id)
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, status, next_attempt_at)",
                "CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at, id)",
                "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status, created_at)",
            ]),
        // Search through an index on both engines (a substring `LIKE` cannot use a B-tree): SQLite an FTS5 trigram
        // table kept in step with `products.search_text` by triggers, PostgreSQL a pg_trgm GIN index. Plus the one
        // category-and-ordering index missing until now, so every ordering with a category walks an index.
        Migration(
            version: 7, name: "catalog search and keyset indexes",
            statements: [
                """
                CREATE VIRTUAL TABLE products_search
                USING fts5(search_text, content='products', content_rowid='rowid', tokenize='trigram')
                """,
                "INSERT INTO products_search(products_search) VALUES ('rebuild')",
                """
                CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
                    INSERT INTO products_search(rowid, search_text) VALUES (new.rowid, new.search_text);
                END
                """,
                """
                CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
                    INSERT INTO products_search(products_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
                END
                """,
                """
                CREATE TRIGGER products_search_update AFTER UPDATE OF search_text ON products BEGIN
                    INSERT INTO products_search(products_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
                    INSERT INTO products_search(rowid, search_text) VALUES (new.rowid, new.search_text);
                END
                """,
                "CREATE INDEX products_category_created ON products (category, created_at, id)",
            ],
            postgres: [
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE INDEX products_search_trgm ON products USING gin (search_text gin_trgm_ops)",
                "CREATE INDEX products_category_created ON products (category, created_at, id)",
            ]),
        // Two counters the exact `count` of the product list is cached against (`Catalog/CatalogCounts.swift`):
        // `catalog` moves with every change of what a filter can see (a product added, edited, archived, deleted),
        // `stock` with every product whose availability crosses zero, the only stock change `in_stock=true` sees.
        // Triggers, so no writer can forget them. On PostgreSQL they are deferred to commit, when the transaction
        // holds every product lock it will take: the counter row is the last lock taken, so it cannot deadlock; and
        // they move each counter once per transaction (a transaction-local flag), since updating one row once per
        // product in one transaction walks an ever longer chain of its versions.
        Migration(
            version: 8, name: "catalog versions",
            statements: [
                "CREATE TABLE catalog_version (id INTEGER PRIMARY KEY CHECK (id = 1), catalog INTEGER NOT NULL, stock INTEGER NOT NULL)",
                "INSERT INTO catalog_version (id, catalog, stock) VALUES (1, 0, 0)",
                """
                CREATE TRIGGER catalog_version_insert AFTER INSERT ON products
                BEGIN UPDATE catalog_version SET catalog = catalog + 1; END
                """,
                """
                CREATE TRIGGER catalog_version_delete AFTER DELETE ON products
                BEGIN UPDATE catalog_version SET catalog = catalog + 1; END
                """,
                """
                CREATE TRIGGER catalog_version_update AFTER UPDATE OF name, description, search_text, price_minor, category, archived_at
                ON products BEGIN UPDATE catalog_version SET catalog = catalog + 1; END
                """,
                """
                CREATE TRIGGER catalog_version_stock AFTER UPDATE OF on_hand, reserved ON products
                WHEN (old.on_hand - old.reserved > 0) <> (new.on_hand - new.reserved > 0)
                BEGIN UPDATE catalog_version SET stock = stock + 1; END
                """,
            ],
            postgres: [
                "CREATE TABLE catalog_version (id integer PRIMARY KEY CHECK (id = 1), catalog bigint NOT NULL, stock bigint NOT NULL)",
                "INSERT INTO catalog_version (id, catalog, stock) VALUES (1, 0, 0)",
                """
                CREATE FUNCTION catalog_version_move() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    -- TG_ARGV[0]: the counter to move, `catalog` or `stock`.
                    IF current_setting('opply.' || TG_ARGV[0] || '_moved', true) IS DISTINCT FROM 'yes' THEN
                        EXECUTE format('UPDATE catalog_version SET %1$I = %1$I + 1', TG_ARGV[0]);
                        PERFORM set_config('opply.' || TG_ARGV[0] || '_moved', 'yes', true);
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE CONSTRAINT TRIGGER catalog_version_insert AFTER INSERT OR DELETE ON products
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_move('catalog')
                """,
                """
                CREATE CONSTRAINT TRIGGER catalog_version_update
                AFTER UPDATE OF name, description, search_text, price_minor, category, archived_at ON products
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_move('catalog')
                """,
                """
                CREATE CONSTRAINT TRIGGER catalog_version_stock AFTER UPDATE OF on_hand, reserved ON products
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN ((OLD.on_hand - OLD.reserved > 0) IS DISTINCT FROM (NEW.on_hand - NEW.reserved > 0))
                EXECUTE FUNCTION catalog_version_move('stock')
                """,
            ]),
    ]
}
