-- Served by /vault only.
local channel = { topic = "gold" }

function channel.join(topic, payload, socket) return phx.ok({ bars = 3 }) end

return channel
