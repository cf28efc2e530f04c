import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Bounds what one connection can hold on to, in front of every request: the head and body of a request must arrive
/// within `readTimeout` of its first byte being due (a stalled or trickled upload is closed, not buffered for ever),
/// and at `maxConnections` open connections this instance stops accepting until one closes, so new clients wait in
/// the listen backlog instead of piling up (one accepted in the same batch past the limit is closed at once).
/// `HTTP_IDLE_TIMEOUT` still governs idle keep-alive.
final class ConnectionLimits: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Connections open on this instance, shared by every connection's handler, and the limits each one gets.
    final class Census: Sendable {
        let limit: Int
        let readTimeout: TimeAmount
        let idleTimeout: TimeAmount
        private let open = Atomic<Int>(0)

        init(limit: Int, readTimeout: TimeAmount, idleTimeout: TimeAmount) {
            self.limit = limit
            self.readTimeout = readTimeout
            self.idleTimeout = idleTimeout
        }

        /// The handler for one new connection.
        func handler() -> ConnectionLimits { ConnectionLimits(census: self) }

        var count: Int { open.load(ordering: .relaxed) }
        enum Admission { case room, full, over }

        /// Counts a connection in: there is room for more, it filled the instance, or it came past the limit.
        func opened() -> Admission {
            let count = open.wrappingAdd(1, ordering: .relaxed).newValue
            return count < limit ? .room : count == limit ? .full : .over
        }
        /// Counts a connection out; true when the instance has room again.
        func closed() -> Bool { open.wrappingSubtract(1, ordering: .relaxed).newValue < limit }
    }

    private let census: Census
    private var readTimeout: TimeAmount { census.readTimeout }
    private var idleTimeout: TimeAmount { census.idleTimeout }
    private var deadline: Scheduled<Void>?
    private var counted = false
    /// A request's head has come and its end not yet (the first request is due from the start).
    private var reading = true

    init(census: Census) {
        self.census = census
    }

    func handlerAdded(context: ChannelHandlerContext) {
        counted = true
        switch census.opened() {
        case .room: break
        case .full: context.channel.parent?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        case .over:
            // Accepted in the same batch as the one that filled the instance: refused at once.
            context.close(promise: nil)
            return
        }
        // The first request's head and body must arrive in time, from the moment the connection is accepted.
        arm(context, after: readTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        release(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        release(context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            arm(context, after: readTimeout)
        case .body: break
        case .end:
            reading = false
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Kept alive: the next request may be a while coming (idle), then must arrive in time. An answer sent before
        // its request was read to the end (a `413`) leaves that request's deadline standing.
        if case .end = unwrapOutboundIn(data), !reading { arm(context, after: idleTimeout + readTimeout) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }

    private func release(_ context: ChannelHandlerContext) {
        guard counted else { return }
        counted = false
        if census.closed() { context.channel.parent?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
    }
}
