// swift-tools-version:6.0
// The Swift client of the Opply API, for the iOS app. The code under
// Sources/OpplyClient/Generated is generated from the server's openapi.yaml by
// scripts/generate-client.sh and committed: building this package needs no generator.
import PackageDescription

let package = Package(
    name: "OpplyClient",
    platforms: [.macOS(.v13), .iOS(.v16), .tvOS(.v16), .watchOS(.v9)],
    products: [
        .library(name: "OpplyClient", targets: ["OpplyClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        .target(
            name: "OpplyClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "OpplyClientE2ETests",
            dependencies: [
                "OpplyClient",
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
            ]
        ),
    ]
)
