import ArgumentParser
import Foundation
import Hummingbird
import Logging
import OpplyServer

/// The `opply` command: parses arguments, reads the configuration, then hands over to `OpplyServer`.
@main
struct Opply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Opply marketplace backend.",
        subcommands: [Serve.self, Migrate.self, CreateUser.self, Seed.self, Check.self],
        defaultSubcommand: Serve.self
    )
}

/// Prints a line to standard output at once, even when it is a pipe or a file.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Reads the environment into an `AppConfig` and sets up logging; a bad value ends the process with one line.
func loadConfig() throws -> (AppConfig, Logger) {
    let config: AppConfig
    do {
        config = try AppConfig.fromEnvironment()
    } catch {
        FileHandle.standardError.write(Data("opply: configuration error: \(error.description)\n".utf8))
        throw ExitCode(78)
    }
    let level = config.logLevel
    let format = config.logFormat
    LoggingSystem.bootstrap { label in
        var handler: any LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    var logger = Logger(label: "opply")
    logger.logLevel = level
    return (config, logger)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Migrate the database, then serve the API until SIGTERM or SIGINT.")

    @Option(help: "Address to listen on (overrides HOST).") var host: String?
    @Option(help: "Port to listen on (overrides PORT).") var port: Int?

    func run() async throws {
        var (config, logger) = try loadConfig()
        config.host = host ?? config.host
        config.port = port ?? config.port
        if let problem = config.listeningProblem {
            FileHandle.standardError.write(Data("opply: \(problem)\n".utf8))
            throw ExitCode(78)
        }

        if config.jwtSecretGenerated {
            logger.warning("JWT_SECRET is not set: using a random secret for this run (development only); tokens die with the process.")
        }
        let shop = try await Shop.open(config, logger: logger)
        if config.seedDemoData, let password = try await shop.seedDemoIfEmpty() {
            say(
                "Created the staff account 'admin' with password: \(password)\n"
                    + "(shown once; create your own with `opply create-user --staff`)"
            )
        }
        say("Back office: http://\(config.host):\(config.port)/admin/ (staff sign in there); API contract: /openapi.yaml")
        logger.info("Serving", metadata: ["address": "http://\(config.host):\(config.port)", "database": "\(config.databaseURL)"])
        try await buildApplication(shop: shop).runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

    func run() async throws {
        let (config, logger) = try loadConfig()
        let shop = try await Shop.open(config, logger: logger)
        await shop.close()
        say("Database is up to date: \(config.databaseURL)")
    }
}

struct CreateUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-user", abstract: "Create a customer (or a staff member with --staff).")

    @Option var username: String
    @Option var email: String
    @Option(help: "The password; read from standard input when omitted.") var password: String?
    @Flag(help: "Make the account staff.") var staff = false

    func run() async throws {
        let (config, logger) = try loadConfig()
        let secret = password ?? readLine(strippingNewline: true) ?? ""
        let shop = try await Shop.open(config, logger: logger)
        defer { Task { await shop.close() } }
        do {
            let customer = try await shop.createUser(username: username, email: email, password: secret, staff: staff)
            say("Created \(customer.isStaff ? "staff member" : "customer") \(customer.username) (\(customer.id.uuidString.lowercased()))")
            await shop.close()
        } catch let error as AppError {
            await shop.close()
            let details = error.errors.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
            FileHandle.standardError.write(Data("opply: \(details.isEmpty ? error.detail ?? error.title : details)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a demo catalog of N products (with stock) across 20 categories, and/or N demo orders from demo customers.")

    @Option(help: "How many products to add (1000 when neither option is given).") var products: Int?
    @Option(help: "How many orders to add, from 300 demo customers over the last 90 days, taking the catalog's stock.") var orders: Int?

    func run() async throws {
        let (config, logger) = try loadConfig()
        let products = self.products ?? (orders == nil ? 1_000 : 0)
        let orders = self.orders ?? 0
        guard products >= 0, orders >= 0, products + orders > 0 else { throw ValidationError("give --products or --orders, at least 1") }
        let shop = try await Shop.open(config, logger: logger)
        do {
            if products > 0 {
                let started = ContinuousClock.now
                try await shop.seedCatalog(products: products, progress: Self.progress(of: products, "products", since: started))
                say("Seeded \(products) products in \(ContinuousClock.now - started) into \(config.databaseURL)")
            }
            if orders > 0 {
                let started = ContinuousClock.now
                try await shop.seedOrders(orders, progress: Self.progress(of: orders, "orders", since: started))
                say("Seeded \(orders) orders in \(ContinuousClock.now - started) into \(config.databaseURL)")
            }
        } catch {
            await shop.close()
            throw error
        }
        await shop.close()
    }

    /// A line every 5 %, with the rate so far: a million rows take minutes, and silence reads as a hang.
    static func progress(of total: Int, _ noun: String, since started: ContinuousClock.Instant) -> (Int) -> Void {
        var reported = 0
        return { made in
            let percent = made * 100 / total
            guard percent / 5 > reported / 5 || made == total else { return }
            reported = percent
            let elapsed = (ContinuousClock.now - started).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            let rate = seconds > 0 ? Int(Double(made) / seconds) : 0
            say("seed: \(made)/\(total) \(noun) (\(percent) %), \(rate) \(noun)/s")
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the stock invariants; exit non-zero naming each product that breaks one.")

    func run() async throws {
        let (config, logger) = try loadConfig()
        let shop = try await Shop.open(config, logger: logger)
        let violations: [StockCheck.Violation]
        do {
            violations = try await shop.stockCheck.run()
        } catch {
            await shop.close()
            throw error
        }
        await shop.close()
        guard violations.isEmpty else {
            for violation in violations { FileHandle.standardError.write(Data("opply check: \(violation)\n".utf8)) }
            throw ExitCode.failure
        }
        say("Stock invariants hold: 0 <= reserved <= on_hand, reserved = units held by carts, on_hand + sold = adjustments.")
    }
}
