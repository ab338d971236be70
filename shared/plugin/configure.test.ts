import { configureInterfaceOps, distinctRoutes } from "./configure";

test("a second route to the same destination, table and metric is left out: the first wins", () => {
  const routes = [{ dst: "0.0.0.0/0" }, { dst: "0.0.0.0/0", gw: "10.0.0.254" }, { dst: "10.8.0.0/16" }, { dst: "10.8.1.2/16" }, { dst: "10.8.0.0/16", table: 7 }, { dst: "::/0" }];
  expect(distinctRoutes(routes)).toEqual([{ dst: "0.0.0.0/0" }, { dst: "10.8.0.0/16" }, { dst: "10.8.0.0/16", table: 7 }, { dst: "::/0" }]);
  const ops = configureInterfaceOps("/run/netns/p", "eth0", [{ address: "10.0.0.2/24", gateway: "10.0.0.1" }], routes);
  expect(ops.filter((op) => JSON.stringify(op).includes("0.0.0.0/0"))).toHaveLength(1);
});
