import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { GatehouseProvider } from "@gatehouse/client/react";
import { gatehouse } from "./gatehouse.js";
import App from "./App.jsx";
import "./app.css";

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <GatehouseProvider client={gatehouse}>
      <App />
    </GatehouseProvider>
  </StrictMode>,
);
