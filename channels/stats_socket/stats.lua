-- StatsChannel from "Real-Time Phoenix" (lib/hello_sockets_web/channels/stats_channel.ex), served at
-- /stats_socket. Phoenix's version sleeps inside the channel process; a Lua callback must never block
-- the event loop, so the delays are timers and the replies come later through phx.reply_to.
local channel = { topic = "*" }

function channel.join(topic, payload, socket)
  if topic == "valid" then return phx.ok() end
  if topic == "invalid" then return phx.error({ reason = "always fails" }) end
  -- Any other topic has no join clause in the book: a crash, which the client sees as "join crashed".
  error("no join clause for topic " .. string.format("%q", topic))
end

-- Starts the next queued slow_ping: Phoenix handles them one after another (the process sleeps).
local function start_next_slow_ping(socket)
  local queue = socket.assigns.slow_queue
  if #queue > 0 and not socket.assigns.slow_running then
    socket.assigns.slow_running = true
    phx.send_after(socket, 3000, { reply = table.remove(queue, 1), slow = true })
  end
end

function channel.handle_in(event, payload, socket)
  if event == "ping" then
    -- Process.sleep(:rand.uniform(1000)), then {:ok, %{ping: "pong"}}
    phx.send_after(socket, math.random(1, 1000), { reply = phx.socket_ref(socket) })
    return phx.noreply()
  elseif event == "slow_ping" then
    -- Process.sleep(3_000) in the channel: slow pings are answered one after another, 3 s apart.
    socket.assigns.slow_queue = socket.assigns.slow_queue or {}
    table.insert(socket.assigns.slow_queue, phx.socket_ref(socket))
    start_next_slow_ping(socket)
    return phx.noreply()
  elseif event == "parallel_slow_ping" then
    -- A Task per message replies through socket_ref after 3 s: they run side by side.
    phx.send_after(socket, 3000, { reply = phx.socket_ref(socket) })
    return phx.noreply()
  end
  error("no handle_in clause for event " .. string.format("%q", event))
end

function channel.handle_info(msg, socket)
  phx.reply_to(msg.reply, "ok", { ping = "pong" })
  if msg.slow then
    socket.assigns.slow_running = false
    start_next_slow_ping(socket)
  end
  return phx.noreply()
end

return channel
