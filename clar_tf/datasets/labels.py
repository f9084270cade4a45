"""Class names of the published datasets, in label order (label i = names[i]).

Speech Commands classes are the sorted word folder names. NSynth families and ESC-50
categories keep the dataset authors' numbering (`instrument_family`, `target`); ESC-10
remaps its ten ESC-50 targets to 0..9 in increasing target order.
"""
SC35_WORDS = tuple(sorted((
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
    "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
    "visual", "wow", "yes", "zero")))
SC10_WORDS = tuple(sorted((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")))

NSYNTH_FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ",
                   "reed", "string", "synth_lead", "vocal")
NSYNTH_PITCHES = tuple(str(p) for p in range(128))  # MIDI pitch 0..127

ESC50_CATEGORIES = (
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops",
    "wind", "pouring_water", "toilet_flush", "thunderstorm",
    "crying_baby", "sneezing", "clapping", "breathing", "coughing", "footsteps",
    "laughing", "brushing_teeth", "snoring", "drinking_sipping",
    "door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks", "can_opening",
    "washing_machine", "vacuum_cleaner", "clock_alarm", "clock_tick", "glass_breaking",
    "helicopter", "chainsaw", "siren", "car_horn", "engine", "train", "church_bells",
    "airplane", "fireworks", "hand_saw")
ESC10_TARGETS = (0, 1, 10, 11, 12, 20, 21, 38, 40, 41)
ESC10_CATEGORIES = tuple(ESC50_CATEGORIES[t] for t in ESC10_TARGETS)
