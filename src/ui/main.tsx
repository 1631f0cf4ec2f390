/** The Control UI's entry point (a placeholder until the app lands). */
import { render } from "preact"

render(<p>clawgate Control UI</p>, document.body)
