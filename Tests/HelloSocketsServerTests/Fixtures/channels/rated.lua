-- A channel that limits its own events with phx.rate: `shout` at most 2 a second, 3 back to back,
-- per channel; `whisper` has a bucket of its own.
local channel = { topic = "rated:*" }

function channel.join(topic, payload, socket)
  return phx.ok()
end

function channel.handle_in(event, payload, socket)
  if event == "shout" or event == "whisper" then
    if phx.rate(socket, event, 2, 3) then return phx.ok({ said = event }) end
    return phx.error({ reason = "slow down" })
  elseif event == "bad_rate" then
    return phx.ok({ allowed = phx.rate(socket, "x", 0) })
  end
  error("unknown event " .. event)
end

return channel
