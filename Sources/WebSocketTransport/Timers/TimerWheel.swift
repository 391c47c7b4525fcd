import NIOCore

/// Coarse timers for the many connections of one event loop (handshake, idle and close timeouts),
/// driven by a single NIO scheduled task: a hashed timing wheel.
///
/// Why not a NIO scheduled task per connection: each one is a promise, a closure and an entry in the
/// loop's task heap, and NIO cancels by searching that heap linearly. With 19,000 connections every
/// upgrade and every close paid ~10,000 comparisons (10 % of the CPU of a connect+join). Here arming,
/// re-arming and cancelling are O(1), and a timer fires between its deadline and one `resolution` later.
///
/// Use a wheel, and its timers, only on its event loop.
public final class TimerWheel {
    /// One timer of a wheel: `arm` it for a deadline; its action runs once then, unless cancelled or re-armed first.
    public final class Timer {
        fileprivate let action: () -> Void
        fileprivate var deadline = NIODeadline.distantFuture
        /// The slot holding it, or one of the states below.
        fileprivate var slot = Timer.idle
        /// Its position in that slot (slots remove by swapping the last entry in).
        fileprivate var position = 0
        /// The tick of that slot.
        fileprivate var slotTick: Int64 = 0

        fileprivate static let idle = -1
        /// Taken out of its slot by the tick running now, about to fire.
        fileprivate static let due = -2

        fileprivate init(action: @escaping () -> Void) { self.action = action }

        /// Whether it will fire (armed and not yet fired or cancelled).
        public var isArmed: Bool { slot != Timer.idle }
    }

    public let eventLoop: EventLoop
    public let resolution: TimeAmount
    private var slots: [[Timer]]
    /// The last tick whose slot was processed; ticks count `resolution`s of uptime.
    private var processedTick: Int64
    private var armedCount = 0
    /// The scheduled task of the next tick with work, and that tick.
    private var ticker: (task: Scheduled<Void>, tick: Int64)?
    /// Reused by every tick for the timers it fires.
    private var dueScratch: [Timer] = []
    /// While a tick runs, arming doesn't schedule: the tick schedules the nearest work when it ends.
    private var isTicking = false

    /// - Parameters:
    ///   - resolution: how late a timer may fire; also how often the wheel wakes while timers are armed.
    ///   - slotCount: ticks per turn of the wheel; timers further out wait for a later turn.
    public init(eventLoop: EventLoop, resolution: TimeAmount, slotCount: Int = 512) {
        precondition(resolution.nanoseconds > 0 && slotCount > 0)
        self.eventLoop = eventLoop
        self.resolution = resolution
        self.slots = Array(repeating: [], count: slotCount)
        self.processedTick = Int64(eventLoop.now.uptimeNanoseconds / UInt64(resolution.nanoseconds))
    }

    /// A resolution fit for these timeouts: a tenth of the shortest, between 5 and 100 ms.
    public static func resolution(for timeouts: [TimeAmount]) -> TimeAmount {
        let shortest = timeouts.min() ?? .seconds(1)
        return .nanoseconds(min(max(shortest.nanoseconds / 10, 5_000_000), 100_000_000))
    }

    /// A new, unarmed timer running `action` on this wheel's loop when it fires.
    public func makeTimer(_ action: @escaping () -> Void) -> Timer {
        Timer(action: action)
    }

    /// Arms `timer` to fire at `deadline` (re-arms it if it was armed).
    public func arm(_ timer: Timer, at deadline: NIODeadline) {
        cancel(timer)
        timer.deadline = deadline
        insert(timer)
        armedCount += 1
        if !isTicking, ticker.map({ timer.slotTick < $0.tick }) ?? true {
            scheduleTicker(at: timer.slotTick)
        }
    }

    /// Arms `timer` to fire `delay` from now.
    public func arm(_ timer: Timer, in delay: TimeAmount) {
        arm(timer, at: eventLoop.now + delay)
    }

    /// Disarms `timer`; nothing happens if it is not armed.
    public func cancel(_ timer: Timer) {
        switch timer.slot {
        case Timer.idle:
            return
        case Timer.due:
            break  // taken out already by the running tick, which skips it now
        default:
            remove(timer)
        }
        timer.slot = Timer.idle
        armedCount -= 1
    }

    // MARK: Slots

    private func insert(_ timer: Timer) {
        let tick = max(tickCeiling(of: timer.deadline), processedTick + 1)
        timer.slotTick = tick
        let slot = Int(tick % Int64(slots.count))
        timer.slot = slot
        timer.position = slots[slot].count
        slots[slot].append(timer)
    }

    private func remove(_ timer: Timer) {
        let slot = timer.slot
        let last = slots[slot].removeLast()
        if last !== timer {
            slots[slot][timer.position] = last
            last.position = timer.position
        }
    }

    private func tickCeiling(of deadline: NIODeadline) -> Int64 {
        let ns = Int64(resolution.nanoseconds)
        let uptime = Int64(clamping: deadline.uptimeNanoseconds)
        return uptime / ns + (uptime % ns == 0 ? 0 : 1)
    }

    // MARK: Ticking

    private func scheduleTicker(at tick: Int64) {
        ticker?.task.cancel()
        let deadline = NIODeadline.uptimeNanoseconds(UInt64(tick) * UInt64(resolution.nanoseconds))
        let task = eventLoop.scheduleTask(deadline: deadline) { [weak self] () -> Void in self?.tick() }
        ticker = (task, tick)
    }

    /// Processes every slot up to now, fires what is due, and schedules the next tick that has work.
    private func tick() {
        ticker = nil
        isTicking = true
        let now = eventLoop.now
        let nowTick = Int64(now.uptimeNanoseconds / UInt64(resolution.nanoseconds))
        // Past one turn every slot has been seen: timers further late are all due in those slots.
        let first = max(processedTick + 1, nowTick - Int64(slots.count) + 1)
        if first <= nowTick {
            for tick in first...nowTick { collectDue(slot: Int(tick % Int64(slots.count)), now: now) }
        }
        processedTick = max(processedTick, nowTick)
        fireDue()
        isTicking = false
        scheduleNextTick()
    }

    /// Moves the due timers of `slot` to `dueScratch`; the others (a later turn) go back into the wheel.
    private func collectDue(slot: Int, now: NIODeadline) {
        guard !slots[slot].isEmpty else { return }
        var timers: [Timer] = []
        swap(&timers, &slots[slot])
        for timer in timers {
            if timer.deadline <= now {
                timer.slot = Timer.due
                dueScratch.append(timer)
            } else {
                insert(timer)
            }
        }
        if slots[slot].isEmpty { swap(&timers, &slots[slot]); slots[slot].removeAll(keepingCapacity: true) }
    }

    private func fireDue() {
        guard !dueScratch.isEmpty else { return }
        var due: [Timer] = []
        swap(&due, &dueScratch)
        for timer in due where timer.slot == Timer.due {
            // An action may arm or cancel any timer, this one included: it is idle before the action runs.
            timer.slot = Timer.idle
            armedCount -= 1
            timer.action()
        }
        due.removeAll(keepingCapacity: true)
        if dueScratch.isEmpty { swap(&due, &dueScratch) }
    }

    private func scheduleNextTick() {
        guard armedCount > 0, ticker == nil else { return }
        // The nearest slot with timers (maybe of a later turn: they are put back when it comes).
        var tick = processedTick + 1
        while slots[Int(tick % Int64(slots.count))].isEmpty && tick < processedTick + Int64(slots.count) {
            tick += 1
        }
        scheduleTicker(at: tick)
    }
}
