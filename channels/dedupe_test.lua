-- DedupeChannel (dedupe.lua): numbers are buffered a second, then pushed once each, oldest first.
describe("dupe", function()
  it("pushes the unique numbers one second after the first", function()
    local s = ct.subscribe_and_join("dupe", {})
    for _, n in ipairs({ 1, 2, 1, 3, 2 }) do ct.broadcast("dupe", "number", { number = n }) end
    ct.advance_time(999)
    ct.refute_push(s, "number")
    ct.advance_time(1)
    for _, n in ipairs({ 1, 2, 3 }) do ct.assert_push(s, "number", { value = n }) end
    ct.refute_push(s, "number")
  end)
end)
