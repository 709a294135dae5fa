import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  resolve: {
    // @gatehouse/client is linked from ../../clients/js, which has its own
    // node_modules/react (for its tests): one React for the whole app, or
    // its hooks would run against a second copy.
    dedupe: ["react", "react-dom"],
  },
  // One fixed origin for `npm run dev` and `npm run preview`, the one to
  // list in Gatehouse's --cors-origins.
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 5173, strictPort: true },
});
