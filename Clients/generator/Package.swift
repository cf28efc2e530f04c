// swift-tools-version:6.0
// Builds the swift-openapi-generator command line at a pinned version, for
// scripts/generate-client.sh. Nothing depends on this package: the generated
// client in ../OpplyClient is committed and builds without the generator.
import PackageDescription

let package = Package(
    name: "opply-client-generator",
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", exact: "1.14.3"),
    ]
)
