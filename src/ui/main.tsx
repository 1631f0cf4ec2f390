/** The Control UI's entry point (a placeholder until the app lands). */
import { render } from "preact"
import "./styles.css"

render(<p>clawgate Control UI</p>, document.getElementById("app") ?? document.body)
