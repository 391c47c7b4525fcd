-- A channel that exercises every server feature the tests check: broadcasts, timers, async
-- replies, assigns, binary payloads, intercepts, and scripts that fail in every way.
local channel = { topic = "lab:*", intercept = { "stamped" } }

function channel.join(topic, payload, socket)
  if payload.crash then error("boom in join") end
  if payload.refuse then return phx.error({ reason = "refused" }) end
  socket.assigns.name = payload.name or "anonymous"
  return phx.ok({ user = socket.assigns.user or phx.null })
end

function channel.handle_in(event, payload, socket)
  if event == "shout" then
    phx.broadcast(socket, "shout", payload)
    return phx.noreply()
  elseif event == "whisper" then
    phx.broadcast_from(socket, "whisper", payload)
    return phx.noreply()
  elseif event == "stamp" then
    phx.broadcast(socket, "stamped", payload)
    return phx.noreply()
  elseif event == "count" then
    socket.assigns.n = (socket.assigns.n or 0) + 1
    return phx.ok({ n = socket.assigns.n })
  elseif event == "later" then
    phx.send_after(socket, 30, { kind = "late reply", ref = phx.socket_ref(socket) })
    return phx.noreply()
  elseif event == "tick" then
    phx.send_after(socket, 10, "tick")
    return phx.noreply()
  elseif event == "cancel" then
    local timer = phx.send_after(socket, 30, "tick")
    phx.cancel_timer(timer)
    return phx.ok()
  elseif event == "transport" then
    return phx.ok({ transport = socket.assigns.transport })
  elseif event == "bytes" then
    phx.push(socket, "bytes", payload)
    return phx.noreply()
  elseif event == "spin" then
    while true do end
  elseif event == "spin_protected" then
    while true do pcall(function() while true do end end) end
  elseif event == "hog" then
    local hoard = {}
    while true do hoard[#hoard + 1] = string.rep("x", 1000000) .. #hoard end
  elseif event == "storm" then
    for i = 1, 1000000 do phx.broadcast(socket, "storm", { i = i }) end
  elseif event == "bad_shape" then
    return 42
  elseif event == "stop_badly" then
    return phx.stop("because")
  end
  error("unknown event " .. event)
end

function channel.handle_info(msg, socket)
  if msg == "tick" then
    phx.push(socket, "tock", { name = socket.assigns.name })
  elseif msg.kind == "late reply" then
    phx.reply_to(msg.ref, "ok", { late = true })
  end
  return phx.noreply()
end

function channel.terminate(reason, socket)
  if socket.assigns.name == "grumpy" then error("terminate fails on purpose") end
end

function channel.handle_out(event, payload, socket)
  local out = { seen_by = socket.assigns.name }
  for k, v in pairs(payload) do out[k] = v end
  phx.push(socket, event, out)
  return phx.noreply()
end

return channel
